"""The names of the files dreamtrip writes at the top of an output folder: manifest.json, and
the post's, which the page writer (pipeline/post/page.py) writes and the owner of the folder
claims, adopts and keeps. Here, so that the owner needs no stage to know them."""

MANIFEST = "manifest.json"   # the record of a run (pipeline/manifest.py, pipeline/output/manifest_file.py)

ASSETS = ("style.css", "dreamtrip.js")   # copied from pipeline/post/templates/
INDEX = "index.html"
CONTACT_SHEET = "contact-sheet.html"
POST = "post.md"
MAP = "map.svg"   # the trip map as an image of its own, for post.md
PAGE_FILES = (*ASSETS, MAP, POST, CONTACT_SHEET, INDEX)  # every file write_page writes
