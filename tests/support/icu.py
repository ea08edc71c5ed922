"""ICU MessageFormat syntax, as the Home Assistant frontend's intl-messageformat parses it.

The frontend formats every translated string with intl-messageformat; a string it cannot
parse shows as "Translation error: MALFORMED_ARGUMENT" (or another code) in place of the
text. This is the parser's grammar, reduced to what decides whether a string parses:

- `{name}` is a placeholder; `{name, type}` / `{name, type, style}` a formatted one, and
  `plural`, `selectordinal` and `select` take `key {message}` options, `other` required.
- An apostrophe before `{` or `}` (or `#` inside a plural) starts a quoted literal that
  ends at the next lone apostrophe; `''` is one apostrophe; any other apostrophe is text.
- A `}` outside any argument is text.

A `<` before a letter or `/` is refused too: whether a tag parses depends on the
formatter's `ignoreTag`, and a help text has no need to find out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARGUMENT_TYPES = frozenset({"number", "date", "time", "spellout", "ordinal", "duration"})
CHOICE_TYPES = frozenset({"plural", "selectordinal", "select"})
# Characters of Unicode's Pattern_Syntax in ASCII: not allowed in an argument name.
_NOT_IN_NAME = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~")


class MessageFormatError(ValueError):
    """The frontend would show 'Translation error: <code>'."""

    def __init__(self, code: str, message: str, offset: int) -> None:
        super().__init__(f"{code} at {offset}: {message!r}")
        self.code = code
        self.offset = offset


@dataclass
class _Parser:
    text: str
    pos: int = 0
    arguments: list[str] = field(default_factory=list)

    def error(self, code: str) -> MessageFormatError:
        return MessageFormatError(code, self.text, self.pos)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.peek().isspace():
            self.pos += 1

    def message(self, nesting: int, in_plural: bool) -> None:
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "{":
                self.argument(nesting)
            elif char == "}" and nesting > 0:
                return
            elif char == "'":
                self.quote(in_plural)
            elif char == "<" and (
                self.text[self.pos + 1 : self.pos + 2].isalpha()
                or self.text[self.pos + 1 : self.pos + 2] == "/"
            ):
                raise self.error("INVALID_TAG")
            else:
                self.pos += 1
        if nesting > 0:
            raise self.error("EXPECT_ARGUMENT_CLOSING_BRACE")

    def quote(self, in_plural: bool) -> None:
        following = self.text[self.pos + 1 : self.pos + 2]
        if following == "'":
            self.pos += 2
            return
        if following not in ("{", "}") and not (in_plural and following == "#"):
            self.pos += 1
            return
        self.pos += 2
        while self.pos < len(self.text):
            if self.text[self.pos] == "'":
                if self.text[self.pos + 1 : self.pos + 2] == "'":
                    self.pos += 2
                    continue
                self.pos += 1
                return
            self.pos += 1
        # An unterminated quote runs to the end of the message: the parser accepts it.

    def name(self) -> str:
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace() or char in _NOT_IN_NAME:
                break
            self.pos += 1
        return self.text[start : self.pos]

    def argument(self, nesting: int) -> None:
        self.pos += 1  # {
        self.skip_space()
        if not self.peek():
            raise self.error("EXPECT_ARGUMENT_CLOSING_BRACE")
        if self.peek() == "}":
            raise self.error("EMPTY_ARGUMENT")
        name = self.name()
        if not name:
            raise self.error("MALFORMED_ARGUMENT")
        self.arguments.append(name)
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return
        if not self.peek():
            raise self.error("EXPECT_ARGUMENT_CLOSING_BRACE")
        if self.peek() != ",":
            raise self.error("MALFORMED_ARGUMENT")
        self.pos += 1
        self.skip_space()
        kind = self.name()
        self.skip_space()
        if kind in CHOICE_TYPES:
            self.choice(kind, nesting)
        elif kind in ARGUMENT_TYPES:
            self.simple_style()
        else:
            raise self.error("INVALID_ARGUMENT_TYPE")

    def simple_style(self) -> None:
        if self.peek() == ",":
            self.pos += 1
            depth = 0
            while self.pos < len(self.text) and not (self.text[self.pos] == "}" and depth == 0):
                depth += {"{": 1, "}": -1}.get(self.text[self.pos], 0)
                self.pos += 1
        if self.peek() != "}":
            raise self.error("EXPECT_ARGUMENT_CLOSING_BRACE")
        self.pos += 1

    def choice(self, kind: str, nesting: int) -> None:
        if self.peek() != ",":
            raise self.error("EXPECT_ARGUMENT_TYPE")
        self.pos += 1
        self.skip_space()
        if kind != "select" and self.text.startswith("offset:", self.pos):
            self.pos += len("offset:")
            self.skip_space()
            start = self.pos
            while self.peek().isdigit() or self.peek() == "-":
                self.pos += 1
            if start == self.pos:
                raise self.error("INVALID_PLURAL_ARGUMENT_OFFSET_VALUE")
            self.skip_space()
        keys: set[str] = set()
        while self.peek() and self.peek() != "}":
            key = self.choice_key()
            if not key:
                raise self.error(
                    "EXPECT_SELECT_ARGUMENT_SELECTOR"
                    if kind == "select"
                    else "EXPECT_PLURAL_ARGUMENT_SELECTOR"
                )
            if key in keys:
                raise self.error(
                    "DUPLICATE_SELECT_ARGUMENT_SELECTOR"
                    if kind == "select"
                    else "DUPLICATE_PLURAL_ARGUMENT_SELECTOR"
                )
            keys.add(key)
            self.skip_space()
            if self.peek() != "{":
                raise self.error(
                    "EXPECT_SELECT_ARGUMENT_SELECTOR_FRAGMENT"
                    if kind == "select"
                    else "EXPECT_PLURAL_ARGUMENT_SELECTOR_FRAGMENT"
                )
            self.pos += 1
            self.message(nesting + 1, in_plural=kind != "select")
            self.pos += 1  # }
            self.skip_space()
        if "other" not in keys:
            raise self.error("MISSING_OTHER_CLAUSE")
        if self.peek() != "}":
            raise self.error("EXPECT_ARGUMENT_CLOSING_BRACE")
        self.pos += 1

    def choice_key(self) -> str:
        start = self.pos
        if self.peek() == "=":
            self.pos += 1
        while self.peek() and not self.peek().isspace() and self.peek() not in "{}":
            self.pos += 1
        return self.text[start : self.pos]


def parse(text: str) -> list[str]:
    """The argument names of `text`, or MessageFormatError where the frontend fails."""
    parser = _Parser(text)
    parser.message(0, in_plural=False)
    return parser.arguments


def render_literal(text: str) -> str:
    """What the frontend shows for a string without arguments (quotes resolved)."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        following = text[pos + 1 : pos + 2]
        if char == "'" and following == "'":
            out.append("'")
            pos += 2
        elif char == "'" and following in ("{", "}"):
            end = pos + 1
            while end < len(text):
                if text[end] == "'" and text[end + 1 : end + 2] == "'":
                    out.append("'")
                    end += 2
                    continue
                if text[end] == "'":
                    break
                out.append(text[end])
                end += 1
            pos = end + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out)
