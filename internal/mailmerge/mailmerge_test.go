package mailmerge

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

func sjis(t *testing.T, s string) []byte {
	t.Helper()
	b, err := japanese.ShiftJIS.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShiftJISRoundTrip: Excel's Japanese CSV (Shift_JIS, CRLF) is read
// with its Japanese names and written back in Shift_JIS with the links.
func TestShiftJISRoundTrip(t *testing.T) {
	in := sjis(t, "氏名,メールアドレス,応募職種\r\n山田 太郎,taro@example.net,営業\r\n佐藤 花子,hanako@example.org,\"企画,広報\"\r\n")
	s, err := Read(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Encoding != ShiftJIS || len(s.Rows) != 2 || s.Rows[0].Name != "山田 太郎" || s.Rows[1].Email != "hanako@example.org" || s.Rows[1].Line != 3 {
		t.Fatalf("read %s %+v", s.Encoding, s.Rows)
	}
	var out bytes.Buffer
	if err := s.Write(&out, []string{"https://l.example/c/A", "https://l.example/c/B"}); err != nil {
		t.Fatal(err)
	}
	want := sjis(t, "氏名,メールアドレス,応募職種,career_link\r\n山田 太郎,taro@example.net,営業,https://l.example/c/A\r\n佐藤 花子,hanako@example.org,\"企画,広報\",https://l.example/c/B\r\n")
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("wrote %q", out.Bytes())
	}
}

// TestUTF8BOMRoundTrip: a UTF-8 file with BOM (Excel's "CSV UTF-8") keeps
// its BOM and LF line ends.
func TestUTF8BOMRoundTrip(t *testing.T) {
	in := []byte("\xef\xbb\xbfemail,name\nTaro@Example.net,山田 太郎\n\n")
	s, err := Read(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Encoding != UTF8BOM || len(s.Rows) != 1 || s.Rows[0].Name != "山田 太郎" {
		t.Fatalf("read %s %+v", s.Encoding, s.Rows)
	}
	var out bytes.Buffer
	s.Write(&out, []string{"https://l.example/c/A"})
	if got := out.String(); got != "\xef\xbb\xbfemail,name,career_link\nTaro@Example.net,山田 太郎,https://l.example/c/A\n" {
		t.Errorf("wrote %q", got)
	}
}

// TestBadRowsNamedByLine: every row without a valid address is named by
// its line (a quoted field over two lines counts both), and nothing is
// returned.
func TestBadRowsNamedByLine(t *testing.T) {
	in := []byte("name,email\n\"multi\nline\",ok@example.net\nno address,\nroot,root@localhost\nfine,fine@example.org\nbad,not-an-address\n")
	_, err := Read(in)
	var re *RowError
	if !errors.As(err, &re) || re.Count != 3 {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{"line 4:", "line 5:", "line 7:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not in %v", want, err)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"name,address\nx,a@example.net\n", "no email column"},
		{"email,career_link\na@example.net,https://x\n", "already has a career_link"},
		{"email\n", "no candidate rows"},
		{"\x82\xa0\xff\xfe,email\n", "neither UTF-8 nor Shift_JIS"},
	} {
		if _, err := Read([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}
