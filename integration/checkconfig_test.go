package integration

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/careerrelay/careerrelay/internal/testlib"
)

func TestCheckConfigOK(t *testing.T) {
	t.Parallel()
	binary(t)
	dir := testlib.TempDir(t)
	path := filepath.Join(dir, "careerrelay.yaml")
	writeConfig(t, path, baseConfig(t, dir, "127.0.0.1:1"))
	out, code := runBinary(t, "check-config", "-config", path)
	if code != 0 || !strings.Contains(out, "config OK") {
		t.Fatalf("check-config on a good config: exit %d, output:\n%s\nwant exit 0 and \"config OK\"", code, out)
	}
}

// TestCheckConfigBroken breaks a good config at a known line and wants
// exit status 1 and that line number in the output ("file:LINE:" or
// "line LINE").
func TestCheckConfigBroken(t *testing.T) {
	t.Parallel()
	binary(t)
	for _, tc := range []struct {
		name  string
		drop  string // a line (trimmed) of the good config to remove first
		after string // the line (trimmed) after which broken goes
		// broken is indented as after's child when after ends with ':',
		// as its sibling otherwise.
		broken string
	}{
		{"unknown key", "", "smtp:", "max_recipeints: 10"},
		{"bad duration", "", "delivery:", "lifetime: 5 days"},
		{"bad number", "", "smtp:", "max_message_bytes: 25MB"},
		{"bad network", "allow_networks:", "smtp:", "allow_networks: [10.0.0.0/33]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testlib.TempDir(t)
			data, err := yaml.Marshal(baseConfig(t, dir, "127.0.0.1:1"))
			if err != nil {
				t.Fatal(err)
			}
			text := string(data)
			if tc.drop != "" {
				text = dropLine(t, text, tc.drop)
			}
			text, line := insertAfter(t, text, tc.after, tc.broken)
			path := filepath.Join(dir, "careerrelay.yaml")
			writeFile(t, path, []byte(text))

			out, code := runBinary(t, "check-config", "-config", path)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			lineRE := regexp.MustCompile(fmt.Sprintf(`(?i)(line\s*%d\b|:%d\b)`, line, line))
			if !lineRE.MatchString(out) {
				t.Errorf("output does not name line %d (%s):\n%s", line, tc.broken, out)
			}
			if strings.Contains(out, "config OK") {
				t.Errorf("output says config OK:\n%s", out)
			}
			if t.Failed() {
				t.Logf("config:\n%s", numbered(text))
			}
		})
	}
}

// dropLine removes the first line of text that starts (trimmed) with
// prefix, with the list items indented under it.
func dropLine(t *testing.T, text, prefix string) string {
	t.Helper()
	all := strings.Split(text, "\n")
	for i, l := range all {
		if !strings.HasPrefix(strings.TrimSpace(l), prefix) {
			continue
		}
		j := i + 1
		for j < len(all) && strings.HasPrefix(strings.TrimSpace(all[j]), "- ") {
			j++
		}
		return strings.Join(append(all[:i:i], all[j:]...), "\n")
	}
	t.Fatalf("no line %q in the config:\n%s", prefix, text)
	return ""
}

// insertAfter inserts line after the first line of text equal (trimmed)
// to after, and returns the new text and the 1-based number of the first
// inserted line.
func insertAfter(t *testing.T, text, after, line string) (string, int) {
	t.Helper()
	all := strings.Split(text, "\n")
	for i, l := range all {
		if strings.TrimSpace(l) != after {
			continue
		}
		indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
		if strings.HasSuffix(after, ":") {
			indent += "    "
		}
		out := append(append(append([]string{}, all[:i+1]...), indent+line), all[i+1:]...)
		return strings.Join(out, "\n"), i + 2
	}
	t.Fatalf("no line %q in the config:\n%s", after, text)
	return "", 0
}

func numbered(text string) string {
	var b strings.Builder
	for i, l := range strings.Split(text, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}
