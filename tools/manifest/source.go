package manifest

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// source maps the line/column marks of the YAML parser back to byte offsets
// in the original input.
type source struct {
	b     []byte
	lines []int  // byte offset where each line starts (line 1 is lines[0])
	nl    string // line break written into inserted lines
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func newSource(b []byte) *source {
	s := &source{b: b, nl: "\n"}
	if bytes.Contains(b, []byte("\r\n")) {
		s.nl = "\r\n"
	}
	start := 0
	// The parser consumes a leading byte order mark without counting it.
	if bytes.HasPrefix(b, utf8BOM) {
		start = len(utf8BOM)
	}
	s.lines = append(s.lines, start)
	// Count line breaks the way the parser does (YAML 1.1 breaks: CR, LF,
	// CRLF, NEL, LS, PS) so that line numbers agree.
	for i := start; i < len(b); {
		switch {
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			i += 2
		case b[i] == '\r' || b[i] == '\n':
			i++
		case b[i] == 0xC2 && i+1 < len(b) && b[i+1] == 0x85:
			i += 2
		case b[i] == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
			i += 3
		default:
			i++
			continue
		}
		s.lines = append(s.lines, i)
	}
	return s
}

// offset converts a 1-based line and 1-based column (counted in characters,
// as the parser does) to a byte offset, or -1 when out of range.
func (s *source) offset(line, col int) int {
	if line < 1 || line > len(s.lines) || col < 1 {
		return -1
	}
	off := s.lines[line-1]
	for c := 1; c < col; c++ {
		if off >= len(s.b) {
			return -1
		}
		_, w := utf8.DecodeRune(s.b[off:])
		off += w
	}
	if off > len(s.b) {
		return -1
	}
	return off
}

// lineStart returns the offset of the start of the line holding off.
func (s *source) lineStart(off int) int {
	start := 0
	for _, l := range s.lines {
		if l > off {
			break
		}
		start = l
	}
	return start
}

// nextLine returns the offset of the line after the one holding off, or -1
// when off is on the last line.
func (s *source) nextLine(off int) int {
	for _, l := range s.lines {
		if l > off {
			return l
		}
	}
	return -1
}

// lineEnd returns the offset of the line break ending the line holding off.
func (s *source) lineEnd(off int) int {
	for i := off; i < len(s.b); i++ {
		if isBreakAt(s.b, i) {
			return i
		}
	}
	return len(s.b)
}

func isBreakAt(b []byte, i int) bool {
	switch {
	case b[i] == '\r' || b[i] == '\n':
		return true
	case b[i] == 0xC2 && i+1 < len(b) && b[i+1] == 0x85:
		return true
	case b[i] == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
		return true
	}
	return false
}

// onlyIndentBefore reports whether off is preceded on its line by spaces only.
func (s *source) onlyIndentBefore(off int) bool {
	for i := s.lineStart(off); i < off; i++ {
		if s.b[i] != ' ' {
			return false
		}
	}
	return true
}

// restIsBlank reports whether the line holding off has only blanks or a
// comment from off to its end.
func (s *source) restIsBlank(off int) bool {
	end := s.lineEnd(off)
	for i := off; i < end; i++ {
		switch s.b[i] {
		case ' ', '\t':
		case '#':
			return true
		default:
			return false
		}
	}
	return true
}

// blockEnd returns the offset of the line after the last line of block
// mapping m, or -1 when m ends on the last line of a file without a final
// line break. A line belongs to m while it is blank, a comment, indented
// deeper than m's keys, or a "- " item of a sequence written at the keys'
// indentation.
func (s *source) blockEnd(m *yaml.Node) (int, bool) {
	if len(m.Content) == 0 {
		return 0, false
	}
	indent := m.Content[0].Column - 1
	last := m.Content[len(m.Content)-1]
	if last.Line < 1 || last.Line > len(s.lines) {
		return 0, false
	}
	end := -1
	if last.Line < len(s.lines) {
		end = s.lines[last.Line]
	}
	for li := last.Line; li < len(s.lines); li++ {
		start := s.lines[li]
		line := s.b[start:s.lineEnd(start)]
		trimmed := bytes.TrimLeft(line, " ")
		ind := len(line) - len(trimmed)
		if len(bytes.TrimSpace(trimmed)) == 0 || trimmed[0] == '#' {
			continue
		}
		item := trimmed[0] == '-' && (len(trimmed) == 1 || trimmed[1] == ' ' || trimmed[1] == '\t')
		if ind < indent || ind == indent && !item {
			break
		}
		end = -1
		if li+1 < len(s.lines) {
			end = s.lines[li+1]
		}
	}
	return end, true
}

// scalarSpan returns the byte range of the scalar n as written, without its
// tag or anchor, so that the range can be replaced by another scalar.
func (s *source) scalarSpan(n *yaml.Node) (start, end int, err error) {
	if n.Kind != yaml.ScalarNode {
		return 0, 0, fmt.Errorf("%w: value at line %d is not a scalar", ErrUnsupported, n.Line)
	}
	start = s.offset(n.Line, n.Column)
	if start < 0 || start >= len(s.b) {
		return 0, 0, fmt.Errorf("%w: cannot place value at line %d column %d", ErrUnsupported, n.Line, n.Column)
	}
	// Skip node properties: "!!str &anchor value".
	for start < len(s.b) && (s.b[start] == '!' || s.b[start] == '&') {
		for start < len(s.b) && s.b[start] != ' ' && s.b[start] != '\t' && !isBreakAt(s.b, start) {
			start++
		}
		for start < len(s.b) && (s.b[start] == ' ' || s.b[start] == '\t') {
			start++
		}
	}
	if start >= len(s.b) {
		return 0, 0, fmt.Errorf("%w: value at line %d", ErrUnsupported, n.Line)
	}
	b := s.b
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if b[start] != '"' {
			break
		}
		for i := start + 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return start, i + 1, nil
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if b[start] != '\'' {
			break
		}
		for i := start + 1; i < len(b); i++ {
			if b[i] == '\'' {
				if i+1 < len(b) && b[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, nil
			}
		}
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, fmt.Errorf("%w: value at line %d is a block scalar (| or >); write it on one line", ErrUnsupported, n.Line)
	default:
		// A plain scalar on one line is written exactly as its value. An
		// empty plain value (implicit null) has no span.
		if n.Value != "" && bytes.HasPrefix(b[start:], []byte(n.Value)) {
			end = start + len(n.Value)
			if end == len(b) || isPlainEnd(b, end) {
				return start, end, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("%w: value at line %d spans several lines; write it on one line", ErrUnsupported, n.Line)
}

// isPlainEnd reports whether a plain scalar can end before b[i].
func isPlainEnd(b []byte, i int) bool {
	switch b[i] {
	case ' ', '\t', ',', ']', '}', ':':
		return true
	}
	return isBreakAt(b, i)
}

// edit replaces b[start:end] with text.
type edit struct {
	start, end int
	text       string
}

func (e *edit) apply(b []byte) []byte {
	out := make([]byte, 0, len(b)-(e.end-e.start)+len(e.text))
	out = append(out, b[:e.start]...)
	out = append(out, e.text...)
	return append(out, b[e.end:]...)
}
