package integration

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// TestLinksCSVForMailMerge: `careerrelay links` on a Shift_JIS CSV with
// Japanese names (as Japanese Excel saves it) writes the same file in
// Shift_JIS with a career_link column whose links open the tenant's
// landing page; a file with a bad row fails naming its line and makes
// nothing.
func TestLinksCSVForMailMerge(t *testing.T) {
	t.Parallel()
	sink := newSink(t, nil)
	r := StartRelay(t, sink.Addr, withLocalLinks)
	in := filepath.Join(r.Dir, "candidates.csv")
	table := "氏名,メールアドレス\r\n山田 太郎,taro@cand1.example\r\n佐藤 花子,hanako@cand2.example\r\n"
	sj, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(table))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(in, sj, 0o600)
	out := filepath.Join(r.Dir, "merged.csv")
	msg, code := runBinary(t, "links", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID, "-csv", in, "-out", out)
	if code != 0 || !strings.Contains(msg, "2 personal links") || !strings.Contains(msg, "Shift_JIS") {
		t.Fatalf("links: exit %d\n%s", code, msg)
	}
	raw, _ := os.ReadFile(out)
	text, err := japanese.ShiftJIS.NewDecoder().Bytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(text)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][2] != "career_link" || rows[1][0] != "山田 太郎" {
		t.Fatalf("merged file: %v %q", err, text)
	}
	for _, row := range rows[1:] {
		resp, err := http.Get(row[2])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", row[2], resp.StatusCode)
		}
	}

	bad := filepath.Join(r.Dir, "bad.csv")
	os.WriteFile(bad, []byte("\xef\xbb\xbfemail,name\nok@cand3.example,A\nnot an address,B\n"), 0o600)
	msg, code = runBinary(t, "links", "-config", r.ConfigPath, "-ready-file", r.ReadyPath, "-tenant", tenantID, "-csv", bad, "-out", filepath.Join(r.Dir, "bad-out.csv"))
	if code != 1 || !strings.Contains(msg, "line 3") {
		t.Errorf("bad file: exit %d\n%s", code, msg)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "bad-out.csv")); err == nil {
		t.Error("a result was written for a file with a bad row")
	}
}
