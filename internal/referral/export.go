package referral

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/careerrelay/careerrelay/internal/csvcell"
)

// csvHeader is the first row of a CSV export.
var csvHeader = []string{"seq", "time", "tenant", "kind", "referral_id", "amount", "note", "prev", "hash"}

func (s *Service) export(w io.Writer, tenant, format string) error {
	if format != "csv" && format != "json" {
		return fmt.Errorf("referral: export format %q: want csv or json", format)
	}
	if tenant != "" && s.cfg.TenantByID(tenant) == nil {
		return fmt.Errorf("%w %q", ErrUnknownTenant, tenant)
	}
	entries, err := s.ledger(tenant)
	if err != nil {
		return err
	}
	if format == "json" {
		err = WriteJSON(w, entries)
	} else {
		err = WriteCSV(w, entries)
	}
	if err != nil {
		return fmt.Errorf("referral: export: %w", err)
	}
	return nil
}

// WriteJSON writes entries as a JSON array, one entry per line.
func WriteJSON(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i := range entries {
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
		v, err := json.Marshal(&entries[i])
		if err != nil {
			return err
		}
		bw.Write(v)
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// WriteCSV writes entries as CSV with a header row (see the package
// comment for the columns).
func WriteCSV(w io.Writer, entries []Entry) error {
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for _, e := range entries {
		cw.Write([]string{
			strconv.FormatUint(e.Seq, 10), timeString(e.Time), e.Tenant, e.Kind, e.ReferralID,
			strconv.Itoa(e.Amount), csvcell.Escape(e.Note), e.Prev, e.Hash,
		})
	}
	cw.Flush()
	return cw.Error()
}

// ParseExport reads an export written by Export ("csv" or "json") back
// into entries, for Verify, VerifyPartial and VerifySubset.
func ParseExport(r io.Reader, format string) ([]Entry, error) {
	switch format {
	case "json":
		var entries []Entry
		d := json.NewDecoder(r)
		d.DisallowUnknownFields()
		if err := d.Decode(&entries); err != nil {
			return nil, fmt.Errorf("referral: read JSON ledger: %w", err)
		}
		return entries, nil
	case "csv":
		return parseCSV(r)
	}
	return nil, fmt.Errorf("referral: ledger format %q: want csv or json", format)
}

func parseCSV(r io.Reader) ([]Entry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(csvHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("referral: read CSV ledger: %w", err)
	}
	if !slices.Equal(head, csvHeader) {
		return nil, fmt.Errorf("referral: read CSV ledger: header %q, want %q", head, csvHeader)
	}
	var entries []Entry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("referral: read CSV ledger: %w", err)
		}
		line, _ := cr.FieldPos(0)
		seq, err := strconv.ParseUint(rec[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("referral: CSV ledger line %d: seq %q: %w", line, rec[0], err)
		}
		t, err := time.Parse(time.RFC3339Nano, rec[1])
		if err != nil {
			return nil, fmt.Errorf("referral: CSV ledger line %d: time %q: %w", line, rec[1], err)
		}
		amount, err := strconv.Atoi(rec[5])
		if err != nil {
			return nil, fmt.Errorf("referral: CSV ledger line %d: amount %q: %w", line, rec[5], err)
		}
		entries = append(entries, Entry{
			Seq: seq, Time: t, Tenant: rec[2], Kind: rec[3], ReferralID: rec[4],
			Amount: amount, Note: csvcell.Unescape(rec[6]), Prev: rec[7], Hash: rec[8],
		})
	}
}
