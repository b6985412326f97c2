"""Sandboxed Jinja2 templating: strict undefined, native types, Ansible's filters.

    templar = Templar(host_vars, searchpath=[playbook_dir])
    templar.template({"dest": "/srv/{{ app }}", "port": "{{ base + 1 }}"})  # port stays an int
    templar.is_true("result is changed and env == 'prod'")

A string that is exactly one expression (`"{{ ports }}"`) keeps the value's
native type; anything else renders to a str. The output of a rendering is
never rendered again, so nothing a host printed is ever evaluated. Variables
are looked up through the Mapping given, lazily: `variables.py` renders a
variable that holds a template when it is read.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import chain, islice
from pathlib import Path
from types import GeneratorType
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from deployplay.errors import DeployplayError, Location, TemplateError
from deployplay.runner.filters import BOOLEANS_FALSE, BOOLEANS_TRUE, FILTERS, LOOKUPS, TESTS

__all__ = [
    "Templar",
    "TemplateError",
    "UndefinedVariableError",
    "check_expression_syntax",
    "check_template_syntax",
    "is_template",
    "truth",
]

_CACHE_SIZE = 8192  # distinct template sources kept compiled: every task string of a big run
_SNIPPET = 80
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_NO_ATTRIBUTE = re.compile(
    r"'(?:[\w.]+\.)?(?P<kind>\w+) object' has no attribute (?P<attribute>.+)"
)
_WRAPPED = re.compile(r"\s*\{\{(?P<expr>.*)\}\}\s*", re.DOTALL)


class UndefinedVariableError(TemplateError):
    """A template named a variable (or attribute) that is not defined."""


def is_template(value: str) -> bool:
    """True if the string has Jinja markup; the quick test that lets plain strings through."""
    return "{" in value and ("{{" in value or "{%" in value or "{#" in value)


# ---- environments ------------------------------------------------------------------------


class _NativeGenerator(NativeCodeGenerator):
    """Never folds an expression into a constant string, so `{{ 1 + 2 }}` stays the int 3."""

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize: Any) -> Any:
        if isinstance(node, nodes.TemplateData):
            return node.as_const(frame.eval_ctx)
        raise nodes.Impossible()


class _NativeSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _NativeGenerator


def _fail_if_undefined(value: Any) -> Any:
    """StrictUndefined only fails when used; a native value is returned, not used, so check."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, GeneratorType):
        # `x | map(...)` without `| list`: give the list, as a user expects.
        return [_fail_if_undefined(v) for v in value]
    elif isinstance(value, list | tuple):
        for item in value:
            _fail_if_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _fail_if_undefined(item)
    return value


def _finalize_text(value: Any) -> Any:
    if value is None:
        return ""  # Ansible renders None as '' inside text
    if isinstance(value, GeneratorType):
        return list(value)
    return value


def _setup(env: jinja2.Environment) -> jinja2.Environment:
    env.filters.update(FILTERS)
    env.tests.update(TESTS)
    return env


_NATIVE_ENV = _setup(
    _NativeSandbox(undefined=jinja2.StrictUndefined, finalize=_fail_if_undefined, autoescape=False)
)


@functools.lru_cache(maxsize=32)
def _file_env(searchpath: tuple[Path, ...]) -> jinja2.Environment:
    """The `template` module's: text out, trim_blocks and the trailing newline kept, as Ansible."""
    return _setup(
        ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined,
            finalize=_finalize_text,
            loader=jinja2.FileSystemLoader([str(p) for p in searchpath]),
            trim_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,
        )
    )


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_template(source: str) -> jinja2.Template:
    return _NATIVE_ENV.from_string(source)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_expression(source: str) -> jinja2.Template:
    """A bare expression (`when:`) as the template `{{ expr }}`, refusing anything after it."""
    parser = Parser(_NATIVE_ENV, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        token = parser.stream.current
        raise TemplateSyntaxError(
            f"unexpected {token.value!r} after the expression", token.lineno, None, None
        )
    body = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
    body.set_environment(_NATIVE_ENV)
    return _NATIVE_ENV.from_string(body)


# ---- errors ------------------------------------------------------------------------------


def _snippet(source: str) -> str:
    text = " ".join(source.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def _converted(exc: BaseException, source: str) -> DeployplayError:
    """One clear line for any failure inside a template."""
    where = f'in "{_snippet(source)}"'
    if isinstance(exc, DeployplayError):
        return exc  # ours already says what went wrong (undefined, recursion, lookup, file)
    if isinstance(exc, SecurityError):
        return TemplateError(f"unsafe template {where}: {exc}")
    if isinstance(exc, UndefinedError):
        return UndefinedVariableError(f"{exc.message} {where}")
    if isinstance(exc, TemplateSyntaxError):
        return TemplateError(f"template syntax error {where}: {exc.message} (line {exc.lineno})")
    if isinstance(exc, jinja2.TemplateError):
        return TemplateError(f"template error {where}: {exc}")
    return TemplateError(f"template error {where}: {type(exc).__name__}: {exc}")


# ---- the Templar -------------------------------------------------------------------------


class _Names(Mapping[str, Any]):
    """What a template can name: the variables, then the Templar's lookups, then Jinja globals.

    A variable whose own template names something undefined comes back as
    Undefined (as Ansible does), so `x | default(...)` and `x is defined` work.
    """

    __slots__ = ("_maps",)

    def __init__(self, *maps: Mapping[str, Any]) -> None:
        self._maps = maps

    def __contains__(self, key: object) -> bool:
        return any(key in m for m in self._maps)

    def __getitem__(self, key: str) -> Any:
        for names in self._maps:
            if key in names:
                try:
                    return names[key]
                except UndefinedVariableError as exc:
                    return _NATIVE_ENV.undefined(hint=exc.message, name=key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for names in self._maps:
            for key in names:
                if key not in seen:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Templar:
    """Renders values against one host's variables (a Mapping, read lazily, never copied)."""

    def __init__(
        self, variables: Mapping[str, Any], *, searchpath: Sequence[Path] | None = None
    ) -> None:
        self.variables = variables
        self.searchpath = [Path(p) for p in searchpath or ()]
        functions = {"lookup": self._lookup, "query": self._query, "q": self._query}
        self._names = _Names(variables, functions, _NATIVE_ENV.globals)

    def template(self, value: Any) -> Any:
        """Render every string inside value (dicts, lists, tuples); other values as they are."""
        if isinstance(value, str):
            return self._render(value) if is_template(value) else value
        if isinstance(value, dict):
            return {self.template(k): self.template(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.template(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.template(v) for v in value)
        return value

    def evaluate(self, expression: Any) -> Any:
        """The value of a bare expression (`when:`); `{{ expr }}` is accepted too."""
        if not isinstance(expression, str):
            return expression
        text = _bare_expression(expression)
        try:
            compiled = _compile_expression(text)
        except TemplateSyntaxError as exc:
            raise _converted(exc, text) from None
        return self._run(compiled, text)

    def is_true(self, condition: Any) -> bool:
        """Ansible's truth for a condition: a list is all(); 'yes'/'no'... read as bool does."""
        if isinstance(condition, list | tuple):
            return all(self.is_true(item) for item in condition)
        value = self.evaluate(condition) if isinstance(condition, str) else condition
        return truth(value)

    def template_name(self, name: str) -> tuple[str, int]:
        """A task's name for its banner, and how many of its expressions failed.

        As ansible-core shows it: what renders is rendered; an expression that
        cannot be (a loop var, a fact not set yet) is shown as
        `<< error N - 'item' is undefined >>`.
        """
        try:
            return str(self.template(name)), 0
        except DeployplayError:
            pass
        reasons: list[str] = []

        def marked(match: re.Match[str]) -> str:
            reason = self._failure(match.group(1))
            if reason is None:
                return match.group(0)
            reasons.append(reason)
            return f"{{% raw %}}<< error {len(reasons)} - {reason} >>{{% endraw %}}"

        try:
            return str(self.template(_EXPRESSION.sub(marked, name))), len(reasons)
        except DeployplayError:
            return name, max(len(reasons), 1)  # fails in a {% %} block: shown as written

    def _failure(self, expression: str) -> str | None:
        """Why one expression cannot be rendered here, in Jinja's words; None when it can."""
        try:
            compiled = _compile_expression(expression.strip())
            context = compiled.new_context(self._names, shared=True)  # type: ignore[arg-type]
            _native_concat(compiled.root_render_func(context))
        except UndefinedError as exc:
            return _ansible_words(exc.message or "undefined")
        except DeployplayError as exc:
            return exc.message
        except Exception as exc:
            return str(exc)
        return None

    def render_file(self, path: Path) -> str:
        """The `template` module: a file rendered to text; includes from its dir and searchpath."""
        path = Path(path)
        dirs = [path.parent, *self.searchpath, *(d / "templates" for d in self.searchpath)]
        env = _file_env(tuple(dict.fromkeys(dirs)))
        template = None
        try:
            template = env.get_template(path.name)
            context = template.new_context(self._names, shared=True)  # type: ignore[arg-type]
            return "".join(template.root_render_func(context))
        except jinja2.TemplateNotFound as exc:
            raise TemplateError(f"template file not found: {exc.name}") from None
        except Exception as exc:
            error = _converted(exc, path.name)
            line = getattr(exc, "lineno", None) or _template_line(exc, template)
            raise error.at(Location(str(path), line or 1)) from None

    # -- internals --

    def _render(self, source: str) -> Any:
        try:
            compiled = _compile_template(source)
        except TemplateSyntaxError as exc:
            raise _converted(exc, source) from None
        return _trailing_newlines(source, self._run(compiled, source))

    def _run(self, compiled: jinja2.Template, source: str) -> Any:
        context = compiled.new_context(self._names, shared=True)  # type: ignore[arg-type]
        try:
            return _native_concat(compiled.root_render_func(context))
        except Exception as exc:
            raise _converted(exc, source) from None

    def _lookup(self, name: str, *terms: Any, wantlist: bool = False, **kwargs: Any) -> Any:
        results = self._query(name, *terms, **kwargs)
        if wantlist:
            return results
        if all(isinstance(r, str) for r in results):
            return ",".join(results)
        return results[0] if len(results) == 1 else results

    def _query(self, name: str, *terms: Any, errors: str = "strict", **kwargs: Any) -> list[Any]:
        if name == "vars":
            plugin: Callable[..., list[Any]] = self._lookup_vars
        elif name in LOOKUPS:
            plugin = LOOKUPS[name]
        else:
            known = ", ".join(sorted([*LOOKUPS, "vars"]))
            raise TemplateError(f"unknown lookup {name!r} (known: {known})")
        flat = [t for term in terms for t in (term if isinstance(term, list) else [term])]
        try:
            return plugin(flat, self.searchpath, **kwargs)
        except (TemplateError, OSError) as exc:
            if errors == "ignore":
                return []
            raise exc if isinstance(exc, TemplateError) else TemplateError(str(exc)) from None

    def _lookup_vars(self, terms: list[Any], searchpath: Any, **kwargs: Any) -> list[Any]:
        values = []
        for term in terms:
            if term in self.variables:
                values.append(self.variables[term])
            elif "default" in kwargs:
                values.append(kwargs["default"])
            else:
                raise UndefinedVariableError(f"lookup('vars'): {term!r} is undefined")
        return values


def _native_concat(chunks: Iterator[Any]) -> Any:
    """One output chunk keeps its type; several are joined as text (None as '', as Ansible)."""
    head = list(islice(chunks, 2))
    if not head:
        return ""
    if len(head) == 1:
        return head[0]
    return "".join("" if v is None else str(v) for v in chain(head, chunks))


def _ansible_words(message: str) -> str:
    """Jinja's "'dict object' has no attribute 'x'" as ansible-core words it."""
    missing = _NO_ATTRIBUTE.fullmatch(message)
    if missing is None:
        return message
    kind = {"YamlDict": "dict", "YamlList": "list"}.get(missing["kind"], missing["kind"])
    return f"object of type '{kind}' has no attribute {missing['attribute']}"


def _trailing_newlines(source: str, result: Any) -> Any:
    """Jinja drops a template's last newline; as Ansible, give a text result back the ones lost.
    (keep_trailing_newline would also keep those of included files, which Ansible does not.)"""
    if not isinstance(result, str):
        return result
    missing = _newlines_at_end(source) - _newlines_at_end(result)
    return result + "\n" * missing if missing > 0 else result


def _newlines_at_end(text: str) -> int:
    return len(text) - len(text.rstrip("\n"))


def truth(value: Any) -> bool:
    """A conditional's result as a bool; strings read as Ansible reads them ('no' is false)."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in BOOLEANS_TRUE:
            return True
        if lowered in BOOLEANS_FALSE or lowered in ("none", "null"):
            return False
    return bool(value)


def _template_line(exc: BaseException, template: jinja2.Template | None) -> int | None:
    """The template line of the innermost frame that ran the template's compiled code."""
    if template is None or template.filename is None:
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f.lineno for f in frames if f.filename == template.filename and f.lineno]
    return template.get_corresponding_lineno(lines[-1]) if lines else None


# ---- load-time checks --------------------------------------------------------------------


def check_template_syntax(value: Any, location: Location | None) -> None:
    """Compile every template string inside value; a syntax error names its location."""
    if isinstance(value, str):
        if is_template(value):
            try:
                _compile_template(value)
            except TemplateSyntaxError as exc:
                raise _converted(exc, value).at(location) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_template_syntax(key, location)
            check_template_syntax(item, location)
    elif isinstance(value, list | tuple):
        for item in value:
            check_template_syntax(item, location)


def check_expression_syntax(expression: Any, location: Location | None) -> None:
    """Compile a bare expression (`when`, `failed_when`, `until`, `assert.that`)."""
    if isinstance(expression, list | tuple):
        for item in expression:
            check_expression_syntax(item, location)
        return
    if not isinstance(expression, str):
        return
    try:
        text = _bare_expression(expression)
        _compile_expression(text)
    except TemplateSyntaxError as exc:
        raise _converted(exc, text).at(location) from None
    except TemplateError as exc:
        raise exc.at(location) from None


def _bare_expression(expression: str) -> str:
    """The expression itself: `{{ }}` around it is taken off; text around braces is refused."""
    text = expression.strip()
    wrapped = _WRAPPED.fullmatch(text)
    if wrapped and not is_template(wrapped.group("expr")):
        text = wrapped.group("expr").strip()
    elif is_template(text):
        raise TemplateError(
            f'"{_snippet(text)}" mixes text and {{{{ }}}}; a condition is one expression',
            hint="write it without {{ }}, e.g. version == '1.2'",
        )
    if not text:
        raise TemplateError("empty expression", hint="write a condition such as x is defined")
    return text
