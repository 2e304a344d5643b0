// Package mailmerge reads a CSV of candidates as HR exports it from a
// spreadsheet or an ATS (UTF-8 with or without BOM, or Shift_JIS as
// Japanese Excel writes it), and writes it back in the same encoding with
// one more column, career_link, for a mail merge.
package mailmerge

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/careerrelay/careerrelay/internal/address"
	"golang.org/x/text/encoding/japanese"
)

// LinkColumn is the column Write adds.
const LinkColumn = "career_link"

// Encodings a sheet is read in and written back in.
const (
	UTF8     = "UTF-8"
	UTF8BOM  = "UTF-8 with BOM"
	ShiftJIS = "Shift_JIS"
)

// Column names read as the address and the name (compared without case
// and surrounding space).
var (
	emailNames = []string{"email", "e-mail", "mail", "メールアドレス", "メール"}
	nameNames  = []string{"name", "氏名", "名前", "お名前"}
)

// Row is one candidate of a sheet.
type Row struct {
	Line  int // the row's line in the file, from 1 (the header is line 1)
	Email string
	Name  string
}

// Sheet is a CSV read by Read.
type Sheet struct {
	Encoding string
	header   []string
	records  [][]string
	Rows     []Row
	crlf     bool
}

// RowError lists the rows without a valid address (at most 20 named).
type RowError struct {
	Problems []string
	Count    int
}

func (e *RowError) Error() string {
	s := fmt.Sprintf("%d rows without a valid mail address:\n  %s", e.Count, strings.Join(e.Problems, "\n  "))
	if e.Count > len(e.Problems) {
		s += fmt.Sprintf("\n  (and %d more)", e.Count-len(e.Problems))
	}
	return s
}

// Read parses data. It needs a header row with an email column (also
// "メールアドレス"; a name column, "name" or "氏名", is optional) and no
// career_link column yet; every row needs a valid mail address, or the
// error (a *RowError) names each bad row by its line.
func Read(data []byte) (*Sheet, error) {
	s := &Sheet{Encoding: UTF8}
	switch {
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		s.Encoding, data = UTF8BOM, data[3:]
	case !utf8.Valid(data):
		// x/text writes U+FFFD for bytes that are not Shift_JIS either,
		// which no Shift_JIS file holds.
		d, err := japanese.ShiftJIS.NewDecoder().Bytes(data)
		if err != nil || bytes.ContainsRune(d, utf8.RuneError) {
			return nil, errors.New("the file is neither UTF-8 nor Shift_JIS; save it as CSV UTF-8 or CSV (Shift_JIS) from Excel")
		}
		s.Encoding, data = ShiftJIS, d
	}
	s.crlf = bytes.Contains(data, []byte("\r\n"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("line 1: cannot read the header row: %w", err)
	}
	s.header = header
	emailCol, nameCol := -1, -1
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == LinkColumn:
			return nil, fmt.Errorf("line 1: the file already has a %s column (links made before); use the original file", LinkColumn)
		case emailCol < 0 && contains(emailNames, h):
			emailCol = i
		case nameCol < 0 && contains(nameNames, h):
			nameCol = i
		}
	}
	if emailCol < 0 {
		return nil, fmt.Errorf("line 1: no email column; the header row needs a column named email (or メールアドレス), and may have name (or 氏名)")
	}
	rowErr := &RowError{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // an empty line
		}
		s.records = append(s.records, rec)
		row := Row{Line: line}
		if emailCol < len(rec) {
			row.Email = strings.TrimSpace(rec[emailCol])
		}
		if nameCol >= 0 && nameCol < len(rec) {
			row.Name = strings.TrimSpace(rec[nameCol])
		}
		if problem := checkAddress(row.Email); problem != "" {
			rowErr.Count++
			if len(rowErr.Problems) < 20 {
				rowErr.Problems = append(rowErr.Problems, fmt.Sprintf("line %d: %q: %s", line, row.Email, problem))
			}
		}
		s.Rows = append(s.Rows, row)
	}
	if rowErr.Count > 0 {
		return nil, rowErr
	}
	if len(s.Rows) == 0 {
		return nil, errors.New("no candidate rows after the header")
	}
	return s, nil
}

// checkAddress says what is wrong with a candidate's address, or "".
func checkAddress(a string) string {
	if a == "" {
		return "empty"
	}
	addr, err := address.Check(a, true)
	if err != nil {
		return err.Error()
	}
	if !strings.Contains(addr, "@") {
		return "no @"
	}
	if err := address.Deliverable(address.Domain(addr)); err != nil {
		return err.Error()
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Write writes the sheet with links[i] in a new last column of row i, in
// the encoding (and line ends) it was read in.
func (s *Sheet) Write(w io.Writer, links []string) error {
	if len(links) != len(s.records) {
		return fmt.Errorf("mailmerge: %d links for %d rows", len(links), len(s.records))
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = s.crlf
	cw.Write(append(append([]string{}, s.header...), LinkColumn))
	for i, rec := range s.records {
		cw.Write(append(append([]string{}, rec...), links[i]))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	out := buf.Bytes()
	switch s.Encoding {
	case UTF8BOM:
		out = append([]byte("\xef\xbb\xbf"), out...)
	case ShiftJIS:
		enc, err := japanese.ShiftJIS.NewEncoder().Bytes(out)
		if err != nil {
			return fmt.Errorf("mailmerge: write Shift_JIS: %w", err)
		}
		out = enc
	}
	_, err := w.Write(out)
	return err
}
