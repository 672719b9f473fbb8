"""The shape of the code, read from its source (issue 21): the core never imports a stage, and
only the owner of the output folder (pipeline/output/) writes or deletes files, as far as a
static check can tell. Stages and flows write through a FileRecord (record_of(...)), which
is the owner's."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGES = ("pipeline.ingest", "pipeline.dream", "pipeline.post")
OWNER = "pipeline.output"

# Calls that write, truncate, link or delete on disk (by the called name).
WRITING_FUNCTIONS = {"os.open", "os.replace", "os.rename", "os.remove", "os.unlink", "os.link", "os.symlink",
                     "os.truncate", "os.ftruncate", "os.rmdir", "os.makedirs", "os.mkdir", "shutil.copy",
                     "shutil.copyfile", "shutil.copy2", "shutil.copytree", "shutil.move", "shutil.rmtree",
                     "tempfile.mkstemp", "tempfile.TemporaryFile", "tempfile.NamedTemporaryFile"}
WRITING_METHODS = {"unlink", "rmdir", "rename", "replace", "touch", "symlink_to", "hardlink_to", "write_text",
                   "write_bytes", "mkdir"}
# FileRecord's own writers: fine when the receiver is the owner's record.
RECORD_METHODS = {"write_bytes", "save_image", "copy", "delete"}
# Writes outside any output folder, each with the reason it is not one.
ALLOWED = {
    ("pipeline.dream.download", "mkdir"): "the weights cache (~/.cache), not an output folder",
    ("pipeline.dream.download", "shutil.copyfile"): "the weights cache, into the owner's atomic_path",
    ("pipeline.dream.download", "write_text"): "the weights cache's day stamp (a failed fetch: not again today)",
    ("flows.preflight", "mkdir"): "check_output_folder makes OUT before any work, to say at once if it cannot",
    ("flows.preflight", "tempfile.TemporaryFile"): "check_output_folder's write probe (made and gone at once)",
    ("flows.hosting", "mkdir"): "the run logs' folder, under the user's state folder",
    ("flows.hosting", "tempfile.TemporaryFile"): "check_prefect_home's write probe in PREFECT_HOME (made and gone)",
    ("flows.hosting", "unlink"): "the run logs under the user's state folder: the oldest beyond LOGS_KEPT",
    ("flows.hosting", "open(w)"): "the Prefect server's output, appended to the run's log (the user's state folder)",
    ("flows.own_server", "mkdir"): "serve's own Prefect server's database folder and its log's (the user's folders)",
    ("flows.own_server", "open(w)"): "serve's own Prefect server's output, appended to its log (the user's state folder)",
    ("flows.rerun", "mkdir"): "the notes of the last run, under the user's state folder (never in OUT)",
    ("flows.rerun", "unlink"): "those notes, forgotten before a run that works",
    ("pipeline.dream.cost", "mkdir"): "this machine's calibration, under the user's state folder (never in OUT)",
    ("pipeline.post.export", "rmdir"): "the blog site's folders its own export emptied (rmdir refuses a non-empty one)",
}


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in ("pipeline", "flows"):
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found[name] = ast.parse(path.read_text(), str(path))
    return found


def _imported(tree: ast.Module, module: str) -> set[str]:
    """Every module `tree` imports, anywhere (inside functions and TYPE_CHECKING blocks too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                base = ".".join(module.split(".")[:-node.level] + ([base] if base else []))
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def _is_stage(name: str) -> bool:
    return any(name == stage or name.startswith(stage + ".") for stage in STAGES)


def _core(name: str) -> bool:
    return name.startswith("pipeline") and not _is_stage(name)


def test_no_core_module_imports_a_stage():
    modules = _modules()
    assert {"pipeline.config", "pipeline.manifest", "pipeline.output.folder", "pipeline.output.records"} <= set(modules)
    wrong = {name: sorted(i for i in _imported(tree, name) if _is_stage(i))
             for name, tree in modules.items() if _core(name)}
    assert {name: found for name, found in wrong.items() if found} == {}


def test_no_stage_imports_another():
    modules = _modules()
    wrong = {}
    for name, tree in modules.items():
        own = next((stage for stage in STAGES if name.startswith(stage)), None)
        if own is not None:
            others = sorted(i for i in _imported(tree, name) if _is_stage(i) and not i.startswith(own))
            if others:
                wrong[name] = others
    assert wrong == {}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _records(tree: ast.Module) -> set[str]:
    """Names bound to a FileRecord: assigned from record_of(...) or a store's writer(), or
    parameters annotated FileRecord."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _from_the_owner(node.value, set()):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
        elif isinstance(node, ast.arg) and node.annotation is not None and "FileRecord" in ast.unparse(node.annotation):
            names.add(node.arg)
    return names


def _from_the_owner(node: ast.AST, records: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return node.id in records
    return isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] in ("record_of", "writer")


def _writes(tree: ast.Module) -> list[str]:
    """The writing calls of a module, by name ('os.replace', 'unlink', 'open(w)')."""
    records, found = _records(tree), []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = _dotted(node.func)
        if called in WRITING_FUNCTIONS:
            found.append(called)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in WRITING_METHODS | RECORD_METHODS:
            if node.func.attr in RECORD_METHODS and _from_the_owner(node.func.value, records):
                continue
            if node.func.attr in ("replace", "copy") and not _a_path(node):
                continue  # str.replace, datetime.replace, Image.copy: not a file
            found.append(node.func.attr)
        elif called == "open" and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and set(str(node.args[1].value)) & set("wax+"):
            found.append("open(w)")
    return found


def _a_path(call: ast.Call) -> bool:
    """Path.replace(target) and shutil-like copies take one path argument; str.replace takes two."""
    return call.func.attr == "replace" and len(call.args) == 1 and not call.keywords


def test_only_the_owner_writes_or_deletes_files():
    modules = _modules()
    assert "pipeline.output.records" in modules
    wrong = {}
    for name, tree in modules.items():
        if name == OWNER or name.startswith(OWNER + "."):
            continue
        writes = sorted({call for call in _writes(tree) if (name, call) not in ALLOWED})
        if writes:
            wrong[name] = writes
    assert wrong == {}


def test_the_check_sees_a_write_outside_the_owner():
    """The check above can fail: a page writer that deleted a file itself is caught."""
    tree = ast.parse("def f(out_dir):\n    (out_dir / 'map.svg').unlink()\n    record_of(out_dir).write_bytes('a', b'')\n")
    assert _writes(tree) == ["unlink"]
    assert not [i for i in _imported(ast.parse("from pipeline.post.page import write_page"), "pipeline.x")
                if not _is_stage(i)]
