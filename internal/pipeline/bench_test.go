package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/careerrelay/careerrelay/store"
)

// BenchmarkRenderCopy250KB: the work of making one copy of a mass
// rejection at delivery (parse, render the link, two Ed25519 signatures),
// the cost each of its recipients pays once.
func BenchmarkRenderCopy250KB(b *testing.B) {
	s := signedPipeline(b)
	mail := taggedMail + strings.Repeat("今後のご活躍を心よりお祈り申し上げます。採用担当\r\n", 250_000/66)
	env := Envelope{From: "hr@acme.example", Tenant: s.tenant, Rcpts: []string{"taro@cand.example"}, Received: time.Now()}
	ids, err := s.p.Accept(context.Background(), env, []byte(mail))
	if err != nil {
		b.Fatal(err)
	}
	var m *store.Message
	var stored store.Body
	s.db.View(func(tx *store.Tx) error {
		m, _ = tx.Get(ids[0])
		stored, err = tx.Body(ids[0])
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(mail)))
	b.ReportAllocs()
	for b.Loop() {
		_, release, err := s.p.Render(m, stored)
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}
