package demo

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // ISO-2022-JP and friends for the decoded views
	"github.com/emersion/go-msgauth/dkim"
)

// captured is one delivered copy as capture mode wrote it.
type captured struct {
	file        string
	raw         []byte
	deliveredTo string
	header      message.Header
	texts       []textPart // the decoded text parts that are not attachments
	links       []string   // personal links (<base>/c/<token>) in the texts
	generic     bool       // the tenant's generic link is in the texts
	rawTag      bool       // the tag is still visible
}

type textPart struct {
	ctype, charset string
	text           string
}

// readCaptured parses every .eml file of dir, in name order (queue order).
func readCaptured(dir, baseURL string) ([]*captured, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	linkRE := regexp.MustCompile(regexp.QuoteMeta(baseURL) + `/c/[A-Za-z0-9._-]+`)
	generic := baseURL + "/t/" + tenantID
	var out []*captured
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		c := &captured{file: filepath.Base(name), raw: raw}
		e, err := message.Read(bytes.NewReader(raw))
		if err != nil && !message.IsUnknownCharset(err) {
			return nil, fmt.Errorf("%s: %w", c.file, err)
		}
		c.header = e.Header
		c.deliveredTo = e.Header.Get("Delivered-To")
		if err := collectTexts(e, &c.texts); err != nil {
			return nil, fmt.Errorf("%s: %w", c.file, err)
		}
		for _, t := range c.texts {
			for _, l := range linkRE.FindAllString(t.text, -1) {
				if !contains(c.links, l) {
					c.links = append(c.links, l)
				}
			}
			c.generic = c.generic || strings.Contains(t.text, generic)
			c.rawTag = c.rawTag || strings.Contains(t.text, tag)
		}
		out = append(out, c)
	}
	return out, nil
}

// collectTexts appends e's text parts, decoded to UTF-8, that are not
// attachments.
func collectTexts(e *message.Entity, out *[]textPart) error {
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) {
				return err
			}
			if err := collectTexts(p, out); err != nil {
				return err
			}
		}
	}
	ctype, params, _ := e.Header.ContentType()
	if disp, _, _ := e.Header.ContentDisposition(); disp == "attachment" || !strings.HasPrefix(ctype, "text/") {
		return nil
	}
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return err
	}
	*out = append(*out, textPart{ctype: ctype, charset: params["charset"], text: strings.ReplaceAll(string(body), "\r\n", "\n")})
	return nil
}

// verifyDKIM checks the copy's signatures against the demo's key, as a
// receiver that found the key's record in DNS would.
func (c *captured) verifyDKIM(pub ed25519.PublicKey) ([]*dkim.Verification, error) {
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	return dkim.VerifyWithOptions(bytes.NewReader(stripCaptureFields(c.raw)), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain == selector+"._domainkey."+tenantDomain {
				return []string{record}, nil
			}
			return nil, fmt.Errorf("no TXT record for %s", domain)
		},
	})
}

// stripCaptureFields removes Return-Path and Delivered-To, which capture
// mode prepends as a local delivery agent would; they are not signed, and
// verifiers ignore them anyway.
func stripCaptureFields(raw []byte) []byte {
	for _, f := range []string{"Return-Path:", "Delivered-To:"} {
		if bytes.HasPrefix(raw, []byte(f)) {
			if i := bytes.Index(raw, []byte("\n")); i >= 0 {
				raw = raw[i+1:]
			}
		}
	}
	return raw
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
