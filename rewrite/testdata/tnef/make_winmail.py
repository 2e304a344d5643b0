#!/usr/bin/env python3
"""Writes the TNEF fixtures of rewrite/tnef_test.go (winmail.dat as Outlook
and Exchange send it), from the format's specification ([MS-OXTNEF], and
[MS-OXRTFCP] for compressed RTF), with nothing but the standard library:

  rtf-tag.dat       the body only as compressed RTF (PR_RTF_COMPRESSED)
                    holding [[career-relay]], as Outlook sends a rich-text
                    mail; the tag is not visible without decompressing
  body-tag.dat      the body as attBody text and PR_BODY_W (UTF-16)
  attachment-tag.dat  an untagged body and an attached file that holds the
                    tag (an attachment is not the message: not counted)

Debian's tnef(1) reads them: `tnef -t -f rtf-tag.dat` lists the files,
`tnef --save-body --body-pref=R` writes the RTF body. Run it in this
folder: python3 make_winmail.py
"""
import struct
import zlib

TAG = b"[[career-relay]]"


def attribute(level, att_id, data):
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BII", level, att_id, len(data)) + data + struct.pack("<H", checksum)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def prop_binary(prop_tag, data):
    return struct.pack("<III", prop_tag, 1, len(data)) + pad4(data)


def prop_unicode(prop_tag, text):
    data = (text + "\0").encode("utf-16-le")
    return struct.pack("<III", prop_tag, 1, len(data)) + pad4(data)


def mapi_props(*props):
    return struct.pack("<I", len(props)) + b"".join(props)


PREBUF_LEN = 207  # the length of [MS-OXRTFCP]'s initial dictionary


def lzfu(raw):
    """Compressed RTF with every byte a literal, then the end marker."""
    out = bytearray()
    for i in range(0, len(raw), 8):
        chunk = raw[i:i + 8]
        control = 0
        body = bytearray(chunk)
        if len(chunk) < 8:
            control = 1 << len(chunk)  # the end marker follows the literals
            end = (PREBUF_LEN + len(raw)) % 4096
            body += struct.pack(">H", end << 4)
        out.append(control)
        out += body
    if len(raw) % 8 == 0:
        end = (PREBUF_LEN + len(raw)) % 4096
        out.append(1)
        out += struct.pack(">H", end << 4)
    data = bytes(out)
    crc = ~zlib.crc32(data, 0xFFFFFFFF) & 0xFFFFFFFF
    return struct.pack("<I4sI", len(raw), b"LZFu", crc) + data, len(data) + 12


def compressed_rtf(raw):
    body, comp_size = lzfu(raw)
    return struct.pack("<I", comp_size) + body


ATT_TNEF_VERSION = 0x00089006
ATT_MESSAGE_CLASS = 0x00078008
ATT_BODY = 0x0001800C
ATT_MAPI_PROPS = 0x00069003
ATT_ATTACH_RENDDATA = 0x00069002
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_DATA = 0x0006800F
PR_RTF_COMPRESSED = 0x10090102
PR_BODY_W = 0x1000001F


def tnef(*attributes):
    return struct.pack("<IH", 0x223E9F78, 0x1234) + b"".join(attributes)


def head():
    return (attribute(1, ATT_TNEF_VERSION, struct.pack("<I", 0x00010000)) +
            attribute(1, ATT_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\0"))


RTF = (b"{\\rtf1\\ansi\\ansicpg932\\deff0{\\fonttbl{\\f0\\fswiss MS PGothic;}}\r\n"
       b"\\pard\\f0\\fs20 \\'8e\\'52\\'93\\'63\\'97\\'6c\\par\r\n"
       b"\\pard Career advice: " + TAG + b"\\par\r\n}\r\n")


def main():
    with open("rtf-tag.dat", "wb") as f:
        f.write(tnef(head(), attribute(1, ATT_MAPI_PROPS, mapi_props(
            prop_binary(PR_RTF_COMPRESSED, compressed_rtf(RTF))))))
    text = "山田様\r\nキャリア相談はこちら: [[career-relay]]\r\n"
    with open("body-tag.dat", "wb") as f:
        f.write(tnef(head(),
                     attribute(1, ATT_BODY, text.encode("cp932")),
                     attribute(1, ATT_MAPI_PROPS, mapi_props(prop_unicode(PR_BODY_W, text)))))
    with open("attachment-tag.dat", "wb") as f:
        f.write(tnef(head(),
                     attribute(1, ATT_BODY, "選考結果のご連絡\r\n".encode("cp932")),
                     attribute(2, ATT_ATTACH_RENDDATA, struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0)),
                     attribute(2, ATT_ATTACH_TITLE, b"template.txt\0"),
                     attribute(2, ATT_ATTACH_DATA, b"template with " + TAG + b"\r\n")))


if __name__ == "__main__":
    main()
