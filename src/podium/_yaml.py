"""YAML loading that remembers where each key stands, so errors can name the line.

Loading is bounded by :class:`~podium._limits.Limits`: a file over ``file_bytes`` is refused
before it is read, and the composed node graph is measured before anything is built from it,
so a document whose aliases expand past ``yaml_nodes`` values ("billion laughs") or that nests
deeper than ``yaml_depth`` is refused in milliseconds instead of exhausting memory or the stack.
libyaml's parser (``yaml.CSafeLoader``) is used when it is present and new enough to bound
nesting itself; otherwise the pure-Python parser, with a guard on its recursive composer.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from podium._limits import DEFAULT_LIMITS, Limits
from podium.errors import UserError

_MERGE_TAG = "tag:yaml.org,2002:merge"
_LIBYAML_DEPTH = 1000
"""How deep libyaml (0.2.5 and on) lets a document nest before it stops with an error."""


class LocatedDict(dict[str, Any]):
    """A mapping from YAML that knows the line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A sequence from YAML that knows the line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class _TooDeep(Exception):
    """Raised by the Python composer's guard; carries the mark where nesting went too far."""

    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.mark = mark


class _PyLoader(yaml.SafeLoader):
    """The pure-Python loader, whose composer recursion is cut off at ``max_depth``."""

    max_depth = DEFAULT_LIMITS.yaml_depth
    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            leaf = self.check_event(ScalarEvent, AliasEvent)
            if self._depth > self.max_depth and not leaf:
                raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _libyaml_bounds_nesting() -> bool:
    """Whether the C parser is there and refuses deep nesting itself (libyaml 0.2.5 and on),
    so its recursive composer cannot overflow the C stack."""
    if not getattr(yaml, "__with_libyaml__", False):
        return False
    try:
        from yaml import _yaml

        version: tuple[int, int, int] = _yaml.get_version()
    except (ImportError, AttributeError):
        return False
    return version >= (0, 2, 5)


_LOADERS: list[type[Any]] = [_PyLoader]
if _libyaml_bounds_nesting():

    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser and composer (values are built by :class:`_Builder`)."""

    _LOADERS.insert(0, _CLoader)

_Loader: type[Any] = _LOADERS[0]
"""The loader :func:`load_yaml_text` uses: the C one when it is available."""


_SEQ_TAG = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
_MAP_TAG = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_STR_TAG = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
_VALUE_TAG = "tag:yaml.org,2002:value"
_LEAF = (1, 0)
_KEY_TYPES = (str, int, float, bool)


class _Builder:
    """Measures a composed node graph and builds Python values from it, in one walk.

    The walk is iterative and visits each node once, in post-order: aliases share the node
    they name, so a file that would expand to billions of values is measured in microseconds
    and refused before anything large exists. A node is built only once its size and the
    depth below it are known to be within the limits. Depth counts collections only.
    """

    def __init__(self, loader: Any, limits: Limits, source: str, error: type[UserError]):
        self.loader = loader
        self.limits = limits
        self.source = source
        self.error = error
        self.values: dict[int, Any] = {}  # id(node) -> the value built from it
        self.sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth below)

    def fail(self, message: str, node: Node) -> UserError:
        return self.error(message, file=self.source, line=int(node.start_mark.line) + 1)

    def build(self, root: Node) -> Any:
        """The value of ``root``; raises ``error`` when the graph is over the limits."""
        limits, sizes, values = self.limits, self.sizes, self.values
        if isinstance(root, ScalarNode):
            return self._scalar(root)
        active: set[int] = set()
        stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
        while stack:
            node, depth, finished = stack.pop()
            key = id(node)
            if finished:
                active.discard(key)
                self._finish(node)
                continue
            known = sizes.get(key)
            if known is None and key in active:
                raise self.fail("a YAML alias refers to a value that contains it", node)
            reach = depth if known is None else depth - 1 + known[1]
            if reach > limits.yaml_depth:
                message = limits.exceeded("yaml_depth", reach, "YAML nesting depth")
                raise self.fail(message, node)
            if known is not None:
                continue
            if node.tag not in (_SEQ_TAG, _MAP_TAG):
                raise self.fail(f"unsupported YAML tag '{node.tag}'", node)
            active.add(key)
            stack.append((node, depth, True))
            nested = []
            for child in _children(node):
                if isinstance(child, ScalarNode):
                    if id(child) not in sizes:
                        sizes[id(child)] = _LEAF
                        values[id(child)] = self._scalar(child)
                else:
                    nested.append((child, depth + 1, False))
            stack.extend(reversed(nested))
        return values[id(root)]

    def _finish(self, node: Node) -> None:
        sizes = self.sizes
        size, below = 1, 0
        for child in _children(node):
            child_size, child_below = sizes[id(child)]
            size += child_size
            below = max(below, child_below)
        sizes[id(node)] = (size, below + 1)
        if size > self.limits.yaml_nodes:
            what = "YAML value count with aliases expanded"
            raise self.fail(self.limits.exceeded("yaml_nodes", size, what), node)
        if isinstance(node, SequenceNode):
            self.values[id(node)] = self._sequence(node)
        elif isinstance(node, MappingNode):
            self.values[id(node)] = self._mapping(node)

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag in (_STR_TAG, _VALUE_TAG, _MERGE_TAG):  # "<<" read as a value is text
            return node.value
        constructor = self.loader.yaml_constructors.get(node.tag)
        if constructor is None:  # not a safe tag: the loader raises the usual error
            return self.loader.construct_object(node)
        return constructor(self.loader, node)

    def _sequence(self, node: SequenceNode) -> LocatedList:
        values = self.values
        result = LocatedList([values[id(child)] for child in node.value])
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result

    def _mapping(self, node: MappingNode) -> LocatedDict:
        values = self.values
        result = LocatedDict()
        result.line = node.start_mark.line + 1
        result.key_lines = lines = {}
        pairs = node.value
        written: set[str] | None = None  # keys written here, when some were merged in
        if any(key_node.tag == _MERGE_TAG for key_node, _ in pairs):
            for key_node, value_node in pairs:
                if key_node.tag == _MERGE_TAG:
                    for source in self._merge_sources(value_node):
                        result.update(source)
                        lines.update(source.key_lines)
            pairs = [pair for pair in pairs if pair[0].tag != _MERGE_TAG]
            written = set()
        for key_node, value_node in pairs:
            key = values[id(key_node)]
            if type(key) is not str:
                if not isinstance(key_node, ScalarNode) or not isinstance(key, _KEY_TYPES):
                    raise self.fail("malformed YAML: mapping keys must be plain scalars", key_node)
                key = str(key)
            # a key written here may override a merged one, but not repeat
            if key in (result if written is None else written):
                raise self.fail(f"malformed YAML: duplicate key '{key}'", key_node)
            if written is not None:
                written.add(key)
            result[key] = values[id(value_node)]
            lines[key] = key_node.start_mark.line + 1
        return result

    def _merge_sources(self, value: Node) -> list[LocatedDict]:
        """The mappings a ``<<`` key merges, the one that wins last (YAML: the first)."""
        nodes = value.value if isinstance(value, SequenceNode) else [value]
        if not all(isinstance(n, MappingNode) for n in nodes):
            raise self.fail("malformed YAML: '<<' needs a mapping or a list of mappings", value)
        return [self.values[id(n)] for n in reversed(nodes)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _text_too_big(text: str, limits: Limits) -> int | None:
    """The size of ``text`` in UTF-8 bytes when it is over ``file_bytes``, else ``None``."""
    if len(text) * 4 <= limits.file_bytes:
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return size if size > limits.file_bytes else None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing makes many containers and no cycles, and
    the collector's passes over them cost a third of the time of a large file."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parser_too_deep(limits: Limits) -> str:
    if limits.yaml_depth < _LIBYAML_DEPTH:
        return limits.exceeded("yaml_depth", _LIBYAML_DEPTH, "YAML nesting depth")
    return f"YAML nesting deeper than {_LIBYAML_DEPTH:,} levels, the YAML parser's own bound"


def load_yaml_text(
    text: str,
    source: str,
    error: type[UserError] = UserError,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """Parse YAML text; a syntax error or a document over ``limits`` becomes ``error``
    naming ``source`` and the line."""
    size = _text_too_big(text, limits)
    if size is not None:
        raise error(limits.exceeded("file_bytes", size, "size in bytes"), file=source)
    loader: Any = None
    try:
        loader = _Loader(text)
        if isinstance(loader, _PyLoader):
            loader.max_depth = limits.yaml_depth
        with _collector_paused():
            node = loader.get_single_node()
            if node is None:
                return None
            return _Builder(loader, limits, source, error).build(node)
    except _TooDeep as exc:
        message = limits.exceeded("yaml_depth", limits.yaml_depth + 1, "YAML nesting depth")
        raise error(message, file=source, line=exc.mark.line + 1) from None
    except RecursionError:
        message = limits.exceeded("yaml_depth", limits.yaml_depth + 1, "YAML nesting depth")
        raise error(message, file=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "malformed YAML"
        if "maximum nesting depth" in problem:  # libyaml's own bound
            raise error(_parser_too_deep(limits), file=source, line=line) from None
        raise error(f"malformed YAML: {problem}", file=source, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        problem = f"character #x{exc.character:04x}: {exc.reason}"
        raise error(f"malformed YAML: {problem}", file=source, line=line) from None
    except UnicodeEncodeError as exc:  # a lone surrogate, which libyaml cannot take
        line = text.count("\n", 0, exc.start) + 1
        problem = f"character #x{ord(text[exc.start]):04x}: not valid Unicode"
        raise error(f"malformed YAML: {problem}", file=source, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"malformed YAML: {exc}", file=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(
    path: str | Path,
    error: type[UserError] = UserError,
    *,
    limits: Limits = DEFAULT_LIMITS,
    name: str | None = None,
) -> Any:
    """Read and parse a YAML file; a missing, unreadable or oversized file becomes ``error``
    naming the file as ``name`` (default: ``path``).

    The size is checked before reading, and at most ``limits.file_bytes`` are read, so a
    file that grows meanwhile or a device that never ends is refused as well.
    """
    file = Path(path)
    shown = name or str(path)
    try:
        with file.open("rb") as handle:
            stated = os.fstat(handle.fileno()).st_size
            if stated > limits.file_bytes:
                raise error(limits.exceeded("file_bytes", stated, "size in bytes"), file=shown)
            data = handle.read(limits.file_bytes + 1)
        if len(data) > limits.file_bytes:
            what = "size in bytes (at least)"
            raise error(limits.exceeded("file_bytes", len(data), what), file=shown)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise error("no such file", file=shown) from None
    except IsADirectoryError:
        raise error("is a folder, expected a YAML file", file=shown) from None
    except UnicodeDecodeError as exc:
        raise error(f"cannot read: not UTF-8 text ({exc.reason})", file=shown) from None
    except OSError as exc:
        raise error(f"cannot read: {exc}", file=shown) from None
    return load_yaml_text(text, shown, error, limits=limits)


def line_of(data: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest key along ``path`` inside YAML-loaded ``data``."""
    line: int | None = getattr(data, "line", None)
    node = data
    for part in path:
        if isinstance(node, LocatedDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def plain(data: Any) -> Any:
    """A copy of YAML-loaded data as plain dicts and lists (for JSON and storage)."""
    if isinstance(data, dict):
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [plain(v) for v in data]
    return data
