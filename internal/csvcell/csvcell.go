// Package csvcell keeps text written into CSV files from being read as a
// formula by a spreadsheet (CSV injection): a cell that starts with = + -
// @, a tab or a carriage return is written with a leading apostrophe,
// which Excel and LibreOffice show as text and do not display. A cell that
// starts with an apostrophe gets one more, so Unescape gives every text
// back exactly (the ledger's notes are hashed and must survive a round
// trip).
package csvcell

import "strings"

// Escape returns s as a cell no spreadsheet evaluates.
func Escape(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// Unescape undoes Escape.
func Unescape(s string) string {
	if rest, ok := strings.CutPrefix(s, "'"); ok && rest != "" {
		switch rest[0] {
		case '=', '+', '-', '@', '\t', '\r', '\'':
			return rest
		}
	}
	return s
}
