"""The reader's words for what a camera or a file says in a machine's: camera names as people
say them ("Olympus E-P3", not "OLYMPUS IMAGING CORP. E-P3").

The manifest keeps what the camera wrote (the traveller's record); only the post says it so.
"""

from __future__ import annotations

import re

# What makers write in EXIF `Make` (upper-cased here), and the name people know them by. Longest
# first where one starts another: "OLYMPUS IMAGING CORP." before "OLYMPUS".
MAKERS = {
    "OLYMPUS IMAGING CORP.": "Olympus", "OLYMPUS CORPORATION": "Olympus", "OLYMPUS OPTICAL CO.,LTD": "Olympus",
    "OLYMPUS": "Olympus", "OM DIGITAL SOLUTIONS": "OM System",
    "NIKON CORPORATION": "Nikon", "NIKON": "Nikon", "CANON": "Canon", "SONY": "Sony",
    "FUJI PHOTO FILM CO., LTD.": "Fujifilm", "FUJIFILM": "Fujifilm", "PANASONIC": "Panasonic",
    "PENTAX CORPORATION": "Pentax", "ASAHI OPTICAL CO.,LTD": "Pentax", "PENTAX": "Pentax",
    "RICOH IMAGING COMPANY, LTD.": "Ricoh", "RICOH": "Ricoh",
    "SAMSUNG TECHWIN": "Samsung", "SAMSUNG": "Samsung", "EASTMAN KODAK COMPANY": "Kodak", "KODAK": "Kodak",
    "LEICA CAMERA AG": "Leica", "LEICA": "Leica", "KONICA MINOLTA": "Konica Minolta",
    "MINOLTA CO., LTD.": "Minolta", "CASIO COMPUTER CO.,LTD.": "Casio", "CASIO": "Casio",
    "LG ELECTRONICS": "LG", "LGE": "LG", "HUAWEI": "Huawei", "XIAOMI": "Xiaomi", "GOOGLE": "Google",
    "APPLE": "Apple", "ONEPLUS": "OnePlus", "MOTOROLA": "Motorola", "HASSELBLAD": "Hasselblad",
    "DJI": "DJI", "GOPRO": "GoPro", "SIGMA": "Sigma", "NOKIA": "Nokia", "HTC": "HTC",
}
# A maker not in MAKERS loses the company's legal suffix all the same.
_COMPANY = re.compile(r",?\s+(corporation|corp\.|co\.,?\s*ltd\.?|ltd\.|inc\.|gmbh)(?=\s|$)", re.IGNORECASE)


def camera_words(camera: str | None) -> str | None:
    """'OLYMPUS IMAGING CORP. E-P3' -> 'Olympus E-P3'; 'NIKON CORPORATION NIKON D750' ->
    'Nikon D750'; 'Canon EOS 5D' stays; an unknown maker keeps its name without `Co., Ltd.`."""
    if not camera or not camera.strip():
        return None
    text = " ".join(camera.split())
    upper = text.upper()
    maker = next((raw for raw in sorted(MAKERS, key=len, reverse=True)
                  if upper == raw or upper.startswith(raw + " ")), None)
    if maker is None:
        return _COMPANY.sub("", text) or text
    name, model = MAKERS[maker], text[len(maker):].strip()
    first = model.split(" ", 1)[0].upper().rstrip(".") if model else ""
    if first in {name.upper(), maker.split(" ", 1)[0]}:   # the model names the maker again
        model = model.split(" ", 1)[1] if " " in model else ""
    return f"{name} {model}".strip()
