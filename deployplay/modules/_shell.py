"""Small helpers the general modules share: shell quoting, a remote stat script, modes, checksums.

Everything here builds POSIX shell text for the host or parses what such text
printed; nothing here talks to a host itself.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from deployplay.modules.base import ModuleContext

quote = shlex.quote

# `stat -c` is in GNU coreutils and busybox, which covers the Linux hosts we deploy to.
_STAT_FORMAT = "mode=%a\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s"
# sha1 because that is what Ansible reports as `checksum`; shasum/openssl cover hosts without it.
_SHA1 = (
    '{ sha1sum < "$p" 2>/dev/null || shasum -a 1 < "$p" 2>/dev/null || openssl sha1 -r < "$p"; }'
)


@dataclass(frozen=True, slots=True)
class RemoteStat:
    """What the stat script found at one path on the host."""

    path: str
    type: str  # file, directory, link, other, absent
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    size: int | None = None
    target: str | None = None
    checksum: str | None = None
    parent_exists: bool = True
    target_is_dir: bool = False  # a symlink to a directory

    @property
    def exists(self) -> bool:
        return self.type != "absent"

    def mode_text(self) -> str | None:
        return None if self.mode is None else f"{self.mode:04o}"


def stat_script(
    path: str,
    *,
    checksum: bool = False,
    follow: bool = False,
    into_dir: str | None = None,
    resolve: bool = False,
) -> str:
    """A script that prints `key=value` lines describing `path` on the host (see parse_stat).

    `into_dir`: when path is a directory, describe path/into_dir instead (copy's `dest: dir`).
    `follow`: describe what a symlink points to rather than the link itself.
    `resolve`: when path is a symlink, describe (and name) the file it finally points to.
    """
    lines = [f"p={quote(path)}"]
    if into_dir is not None:
        lines.append(f'if [ -d "$p" ]; then p="${{p%/}}/"{quote(into_dir)}; fi')
    if resolve:
        lines.append('if [ -L "$p" ]; then p=$(readlink -f -- "$p"); fi')
    link_test = "false" if follow else '[ -L "$p" ]'
    lines += [
        "printf 'path=%s\\n' \"$p\"",
        f'if {link_test}; then t=link; elif [ -d "$p" ]; then t=directory;'
        ' elif [ -f "$p" ]; then t=file; elif [ -e "$p" ]; then t=other; else t=absent; fi',
        'echo "type=$t"',
        'd=$(dirname -- "$p"); if [ -d "$d" ]; then echo parent=yes; else echo parent=no; fi',
        '[ "$t" = absent ] && exit 0',
        f'stat {"-L " if follow else ""}-c {quote(_STAT_FORMAT)} -- "$p"',
        '[ "$t" = link ] && printf \'target=%s\\n\' "$(readlink -- "$p")"',
        'if [ "$t" = link ] && [ -d "$p" ]; then echo target_dir=yes; fi',
    ]
    if checksum:
        lines.append(f'if [ "$t" = file ]; then echo "checksum=$({_SHA1} | cut -d" " -f1)"; fi')
    lines.append("exit 0")
    return "\n".join(lines)


def parse_stat(stdout: str) -> RemoteStat:
    """Read the output of stat_script."""
    values: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep and key not in values:
            values[key] = value

    def number(key: str, base: int = 10) -> int | None:
        text = values.get(key, "")
        return int(text, base) if text.isdigit() else None

    return RemoteStat(
        path=values.get("path", ""),
        type=values.get("type", "absent"),
        mode=number("mode", 8),
        uid=number("uid"),
        gid=number("gid"),
        owner=values.get("owner"),
        group=values.get("group"),
        size=number("size"),
        target=values.get("target"),
        checksum=values.get("checksum") or None,
        parent_exists=values.get("parent", "yes") == "yes",
        target_is_dir=values.get("target_dir") == "yes",
    )


def remote_stat(
    ctx: ModuleContext,
    path: str,
    *,
    checksum: bool = False,
    follow: bool = False,
    into_dir: str | None = None,
    resolve: bool = False,
) -> RemoteStat:
    """Run the stat script on the task's host; a failure of the script itself is a HostError."""
    script = stat_script(path, checksum=checksum, follow=follow, into_dir=into_dir, resolve=resolve)
    result = ctx.run(script)
    if result.failed:
        from deployplay.errors import HostError

        raise HostError(f"could not inspect {path} on {ctx.host}: {result.stderr.strip()}")
    return parse_stat(result.stdout)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def glob_quote(pattern: str) -> str:
    """Quote a path for the shell but leave its glob characters (* ? [..]) active."""
    parts = re.split(r"(\*|\?|\[[^\]/]*\])", pattern)
    return "".join(part if index % 2 else quote(part) for index, part in enumerate(parts) if part)


def glob_exists_test(pattern: str) -> str:
    """A shell condition true when something matches the glob `pattern` (as Python's glob.glob)."""
    # A subshell, so that its `exit` ends only the test.
    test = '[ -e "$_f" ] || [ -L "$_f" ] && exit 0'
    return f"( for _f in {glob_quote(pattern)}; do {test}; done; exit 1 )"


def search_dirs(ctx: ModuleContext, subdir: str) -> list[Path]:
    """Where a relative controller-side `src` is looked for, in order, as Ansible does:
    <subdir>/ (files/, templates/) and the directory of the task's own file (an
    included task file), then <subdir>/ and the directory of the playbook."""
    bases = [ctx.playbook_dir]
    if ctx.location is not None and ctx.location.file:
        bases.insert(0, Path(ctx.location.file).parent)
    dirs = [directory for base in bases for directory in (base / subdir, base)]
    return list(dict.fromkeys(dirs))


def find_local_file(ctx: ModuleContext, src: str, subdir: str) -> Path | None:
    """The controller file `src` names (see search_dirs), or None when there is none."""
    path = Path(src).expanduser()
    if path.is_absolute():
        return path if path.exists() else None
    return next((base / path for base in search_dirs(ctx, subdir) if (base / path).exists()), None)


_SYMBOLIC = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*|[ugo])$")
_WHO_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o1007}


def parse_mode(mode: str | int | None, current: int | None, is_dir: bool) -> int | None:
    """The numeric mode asked for: octal text ('0644'), an int (used as is, as Ansible does),
    or symbolic ('u=rw,g=r,o=r', 'u+x') applied to `current`. None when nothing is asked
    or when a symbolic mode has no current mode to apply to (a file not created yet)."""
    if mode is None:
        return None
    if isinstance(mode, int):
        return mode
    text = mode.strip()
    if re.fullmatch(r"[0-7]{1,4}", text):
        return int(text, 8)
    if current is None:
        check_symbolic(text)
        return None
    return _apply_symbolic(text, current, is_dir)


def check_symbolic(text: str) -> None:
    for clause in text.split(","):
        if not _SYMBOLIC.match(clause):
            raise ValueError(
                f"bad mode {text!r}: use octal ('0644') or symbolic ('u=rw,g=r,o=r', 'u+x')"
            )


def _apply_symbolic(text: str, current: int, is_dir: bool) -> int:
    check_symbolic(text)
    mode = current & 0o7777
    for clause in text.split(","):
        match = _SYMBOLIC.match(clause)
        assert match is not None  # check_symbolic passed
        who, op, perms = match.groups()
        mask = 0
        for letter in who.replace("a", "ugo") or "ugo":
            mask |= _WHO_BITS[letter]
        bits = _perm_bits(perms, mode, is_dir) & mask
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            mode = (mode & ~mask) | bits
    return mode


def _perm_bits(perms: str, mode: int, is_dir: bool) -> int:
    if perms in ("u", "g", "o"):  # copy another class's bits: g=u
        shift = {"u": 6, "g": 3, "o": 0}[perms]
        rwx = (mode >> shift) & 0o7
        return rwx << 6 | rwx << 3 | rwx
    bits = 0
    for letter in perms:
        if letter == "r":
            bits |= 0o444
        elif letter == "w":
            bits |= 0o222
        elif letter == "x" or (letter == "X" and (is_dir or mode & 0o111)):
            bits |= 0o111
        elif letter == "s":
            bits |= 0o6000
        elif letter == "t":
            bits |= 0o1000
    return bits


def attribute_commands(
    path: str,
    stat: RemoteStat | None,
    *,
    mode: str | int | None,
    owner: str | None,
    group: str | None,
    symlink: bool = False,
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The chmod/chown/chgrp commands that bring `path` to the asked attributes.

    `stat` is the path's current state (None: it is about to be created). Returns the
    commands (empty when nothing differs) and the before/after values that differ.
    `symlink`: change the link itself (chown -h); a link has no mode of its own.
    """
    is_dir = stat is not None and stat.type == "directory"
    current = stat.mode if stat is not None else None
    commands: list[str] = []
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    wanted = None if symlink else parse_mode(mode, current, is_dir)
    if wanted is not None and wanted != current:
        commands.append(f"chmod -- {wanted:04o} {quote(path)}")
        if current is not None:
            before["mode"] = _octal(current)
        after["mode"] = f"{wanted:04o}"
    elif wanted is None and mode is not None and current is None and not symlink:
        commands.append(f"chmod -- {quote(str(mode))} {quote(path)}")
        after["mode"] = str(mode)
    for kind, asked, name, number in (
        ("owner", owner, stat and stat.owner, stat and stat.uid),
        ("group", group, stat and stat.group, stat and stat.gid),
    ):
        if asked is not None and asked not in (name, str(number)):
            tool = ("chown" if kind == "owner" else "chgrp") + (" -h" if symlink else "")
            commands.append(f"{tool} -- {quote(asked)} {quote(path)}")
            before[kind], after[kind] = name or "", asked
    return commands, before, after


def _octal(mode: int | None) -> str:
    return "" if mode is None else f"{mode:04o}"


_VARIABLE = re.compile(r"(\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*))")
_TILDE = re.compile(r"^~[A-Za-z0-9_.-]*(?=/|$)")


def quote_expanding(arg: str) -> str:
    """Quote one argument for the shell but let `~` and `$VAR` expand on the host.

    Ansible's command module expands those (expand_argument_vars); nothing else in
    the argument is special: no globbing, no pipes, no command substitution.
    """
    prefix = ""
    tilde = _TILDE.match(arg)
    if tilde:
        prefix, arg = tilde.group(0), arg[tilde.end() :]
    parts = _VARIABLE.split(arg)
    words = [f'"{part}"' if index % 2 else quote(part) for index, part in enumerate(parts) if part]
    return prefix + "".join(words) if (prefix or words) else "''"
