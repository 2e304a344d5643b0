package rewrite

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// Outlook and Exchange may send a message's body as TNEF
// (application/ms-tnef, winmail.dat): the text, HTML and compressed RTF
// bodies as MAPI properties in one binary part. Rewriting inside it is
// not done (every client that reads TNEF would need its checksums, sizes
// and RTF redone, and Outlook would still show the raw tag), so a TNEF part
// that holds the tag is only found and reported (Template.Failures), and
// goes out unchanged.

// tnefSignature starts every TNEF stream (little-endian 0x223E9F78).
var tnefSignature = []byte{0x78, 0x9f, 0x3e, 0x22}

// isTNEF reports whether a leaf is a TNEF part, by its type or by the
// name Outlook gives it.
func isTNEF(mediaType string, params map[string]string, disp string) bool {
	switch mediaType {
	case "application/ms-tnef", "application/vnd.ms-tnef":
		return true
	}
	name := strings.ToLower(params["name"] + " " + disp)
	return strings.Contains(name, "winmail.dat")
}

// tnefHasTag reports whether the TNEF stream b holds tag in its message
// body: in the attBody text, or in the MAPI properties (PR_BODY as 8-bit
// or UTF-16 text, PR_HTML, and PR_RTF_COMPRESSED once decompressed).
// Attachments' attributes are not looked at.
func tnefHasTag(b []byte, tag string) bool {
	if len(b) < 6 || !bytes.Equal(b[:4], tnefSignature) {
		return false
	}
	t8 := []byte(tag)
	t16 := utf16le(tag)
	for p := 6; p+9 <= len(b); {
		level := b[p]
		n := int(binary.LittleEndian.Uint32(b[p+5:]))
		start := p + 9
		if n < 0 || start+n > len(b) {
			return false // a broken stream: what was read so far had no tag
		}
		data := b[start : start+n]
		if level == 1 {
			if bytes.Contains(data, t8) || bytes.Contains(data, t16) || rtfHasTag(data, t8) {
				return true
			}
		}
		p = start + n + 2 // the checksum
	}
	return false
}

// utf16le is s in UTF-16, little-endian, as MAPI writes PT_UNICODE.
func utf16le(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = binary.LittleEndian.AppendUint16(out, u)
	}
	return out
}

// Compressed RTF (MS-OXRTFCP): a header of compressed size, raw size,
// type ("LZFu" compressed, "MELA" not) and CRC, then the data.
var (
	rtfCompressed   = []byte("LZFu")
	rtfUncompressed = []byte("MELA")
)

// rtfHasTag looks for compressed RTF streams in a MAPI property block and
// reports whether one of them holds tag once decompressed.
func rtfHasTag(props, tag []byte) bool {
	for off := 0; ; {
		i := bytes.Index(props[off:], rtfCompressed)
		j := bytes.Index(props[off:], rtfUncompressed)
		if i < 0 && j < 0 {
			return false
		}
		if i < 0 || (j >= 0 && j < i) {
			i = j
		}
		at := off + i
		off = at + 4
		if at < 8 || at+8 > len(props) {
			continue
		}
		comp := int(binary.LittleEndian.Uint32(props[at-8:]))
		raw := int(binary.LittleEndian.Uint32(props[at-4:]))
		data := props[at+8:]
		if comp-12 >= 0 && comp-12 <= len(data) {
			data = data[:comp-12]
		}
		if bytes.Equal(props[at:at+4], rtfUncompressed) {
			if bytes.Contains(data, tag) {
				return true
			}
			continue
		}
		if bytes.Contains(lzfuDecompress(data, raw), tag) {
			return true
		}
	}
}

// lzfuPrebuf is the dictionary compressed RTF starts with.
const lzfuPrebuf = "{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"

// lzfuDecompress decompresses LZFu data (MS-OXRTFCP 2.2.3), at most
// rawSize octets (and never more than 64 MiB); a broken stream gives what
// was decoded before the break.
func lzfuDecompress(src []byte, rawSize int) []byte {
	const dictSize = 4096
	limit := min(max(rawSize, 0), 64<<20)
	var dict [dictSize]byte
	copy(dict[:], lzfuPrebuf)
	w := len(lzfuPrebuf)
	out := make([]byte, 0, min(limit, 1<<20))
	for p := 0; p < len(src) && len(out) < limit; {
		control := src[p]
		p++
		for bit := 0; bit < 8 && len(out) < limit; bit++ {
			if control&(1<<bit) == 0 {
				if p >= len(src) {
					return out
				}
				dict[w%dictSize] = src[p]
				out = append(out, src[p])
				w++
				p++
				continue
			}
			if p+1 >= len(src) {
				return out
			}
			ref := int(src[p])<<8 | int(src[p+1])
			p += 2
			offset, n := ref>>4, ref&0xf+2
			if offset == w%dictSize {
				return out // the end marker
			}
			for k := 0; k < n && len(out) < limit; k++ {
				c := dict[(offset+k)%dictSize]
				dict[w%dictSize] = c
				out = append(out, c)
				w++
			}
		}
	}
	return out
}
