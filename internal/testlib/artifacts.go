package testlib

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ArtifactsDir is the folder, in the test's package folder, where tests
// keep what people should look at (screenshots); .gitignore lists it.
const ArtifactsDir = "artifacts"

// KeepArtifact writes data to artifacts/name in the test's package folder
// and logs its path, which it returns.
func KeepArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(ArtifactsDir, 0o755); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	p, err := filepath.Abs(filepath.Join(ArtifactsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("artifacts: %v", err)
	}
	t.Logf("artifact: %s (%d bytes)", p, len(data))
	return p
}

// ShotsAt looks at the browser's page at each width (844 px high): the
// test fails when the page is wider than the viewport (it would scroll
// sideways), and a full-page screenshot is kept as the artifact
// <test>-<state>-<width>.png. The viewport is left at the last width.
func ShotsAt(t testing.TB, b *Browser, state string, widths ...int) {
	t.Helper()
	for _, width := range widths {
		b.SetViewport(width, 844)
		if w := b.ScrollWidth(); w > width {
			t.Errorf("%s at %d px: the page is %d px wide, it scrolls sideways", state, width, w)
		}
		KeepArtifact(t, fmt.Sprintf("%s-%s-%d.png", t.Name(), state, width), b.FullScreenshot())
	}
}
