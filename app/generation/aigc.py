"""The implicit (metadata) AI-content label of GB 45438-2025, written into and read back from JPEG, PNG and MP4.

The label is the standard's JSON object under the key ``AIGC``: ``Label`` ("1": generated), ``ContentProducer``,
``ProduceID``, ``ReservedCode1``, and, once a share link serves the file, ``ContentPropagator``, ``PropagateID`` and
``ReservedCode2``. Where it lives, one copy per file (TC260's practice guides):

- JPEG: an XMP packet (APP1 segment) with the property ``TC260:AIGC`` in the namespace
  ``http://www.tc260.org.cn/ns/AIGC/1.0/``;
- PNG: the same XMP packet in an ``iTXt`` chunk keyed ``XML:com.adobe.xmp``;
- MP4: the key ``AIGC`` in ``moov/udta/meta`` (``mdta`` keys + ``ilst``), written by ffmpeg without re-encoding.

``ReservedCode1`` is ``hmac-sha256:<hex>`` over the producer fields and a digest of the *content*, that is the
file without its label container (for MP4: the media data, which a remux keeps byte for byte), keyed with
``AIGC_LABEL_KEY``: only we can make it, and it fails when the picture or the label is altered. ``ReservedCode2``
does the same for the propagator fields. Images are never re-encoded to change their label: the XMP segment or
chunk is swapped in the bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

NAMESPACE = "http://www.tc260.org.cn/ns/AIGC/1.0/"
PREFIX = "TC260"
PRODUCER_FIELDS = ("Label", "ContentProducer", "ProduceID")
PROPAGATOR_FIELDS = ("ContentPropagator", "PropagateID")
FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID",
          "ReservedCode2")
_CODE_PREFIX = "hmac-sha256:"
_XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_PNG_KEY = b"XML:com.adobe.xmp"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class LabelError(ValueError):
    """A file we cannot label or read (not a JPEG, PNG or MP4, or a broken one)."""


@dataclass(frozen=True)
class Verdict:
    format: str
    label: dict[str, str] | None
    producer_valid: bool  # ReservedCode1 matches the content and the producer fields under our key
    propagator_valid: bool | None  # None: no propagator fields

    @property
    def ok(self) -> bool:
        return self.label is not None and self.producer_valid and self.propagator_valid is not False


def sniff(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[4:8] == b"ftyp":
        return "mp4"
    raise LabelError("not a JPEG, PNG or MP4 file")


# --- signing -------------------------------------------------------------------------------------------------


def _code(key: bytes, purpose: str, values: list[str], digest: str) -> str:
    message = json.dumps([purpose, values, digest], ensure_ascii=False, separators=(",", ":")).encode()
    return _CODE_PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()


def producer_code(key: bytes, label: dict[str, str], digest: str) -> str:
    return _code(key, "producer", [label.get(f, "") for f in PRODUCER_FIELDS], digest)


def propagator_code(key: bytes, label: dict[str, str], digest: str) -> str:
    values = [label.get(f, "") for f in (*PROPAGATOR_FIELDS, "ReservedCode1")]
    return _code(key, "propagator", values, digest)


def label_for_producer(key: bytes, producer: str, produce_id: str, digest: str) -> dict[str, str]:
    label = {"Label": "1", "ContentProducer": producer, "ProduceID": produce_id}
    label["ReservedCode1"] = producer_code(key, label, digest)
    label.update(ContentPropagator="", PropagateID="", ReservedCode2="")
    return label


# --- the public operations ----------------------------------------------------------------------------------


def label_as_producer(data: bytes, *, key: bytes, producer: str, produce_id: str) -> bytes:
    """The file with our producer label (any label it had is replaced)."""
    fmt = sniff(data)
    content = _strip(data, fmt)
    return _embed(content, fmt, label_for_producer(key, producer, produce_id, _digest(content, fmt)))


def label_as_propagator(data: bytes, *, key: bytes, propagator: str, propagate_id: str) -> bytes:
    """The file with the propagator fields added to its producer label (which must be there and be ours)."""
    fmt = sniff(data)
    label = read(data)
    if label is None:
        raise LabelError("the file has no AIGC label to propagate")
    content = _strip(data, fmt)
    label = {f: label.get(f, "") for f in FIELDS}
    label.update(ContentPropagator=propagator, PropagateID=propagate_id)
    label["ReservedCode2"] = propagator_code(key, label, _digest(content, fmt))
    return _embed(content, fmt, label)


def read(data: bytes) -> dict[str, str] | None:
    """The AIGC label in the file's metadata, or None."""
    fmt = sniff(data)
    raw = _read_mp4(data) if fmt == "mp4" else _read_xmp(data, fmt)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LabelError("the AIGC label is not JSON") from exc
    if not isinstance(value, dict):
        raise LabelError("the AIGC label is not a JSON object")
    return {str(k): str(v) for k, v in value.items()}


def verify(data: bytes, key: bytes) -> Verdict:
    fmt = sniff(data)
    label = read(data)
    if label is None:
        return Verdict(fmt, None, False, None)
    digest = _digest(_strip(data, fmt), fmt)
    producer_ok = hmac.compare_digest(label.get("ReservedCode1", ""), producer_code(key, label, digest))
    propagator_ok = None
    if label.get("ContentPropagator") or label.get("PropagateID") or label.get("ReservedCode2"):
        propagator_ok = hmac.compare_digest(label.get("ReservedCode2", ""), propagator_code(key, label, digest))
    return Verdict(fmt, label, producer_ok, propagator_ok)


# --- content digests: the file without its label --------------------------------------------------------------


def _digest(content: bytes, fmt: str) -> str:
    if fmt == "mp4":
        return hashlib.sha256(b"".join(payload for kind, payload in _mp4_boxes(content) if kind == b"mdat")).hexdigest()
    return hashlib.sha256(content).hexdigest()


def _strip(data: bytes, fmt: str) -> bytes:
    if fmt == "jpeg":
        return b"".join(seg for seg in _jpeg_segments(data) if not _is_xmp_segment(seg))
    if fmt == "png":
        return b"".join(chunk for chunk in _png_chunks(data) if not _is_xmp_chunk(chunk))
    return data  # MP4: the remux below rewrites all metadata; the digest covers the media data only


def _embed(content: bytes, fmt: str, label: dict[str, str]) -> bytes:
    if fmt == "mp4":
        return _remux_mp4(content, json.dumps(label, ensure_ascii=False, separators=(",", ":")))
    packet = xmp_packet(label)
    if fmt == "jpeg":
        body = _XMP_JPEG_HEADER + packet
        if len(body) + 2 > 0xFFFF:
            raise LabelError("the XMP packet is too large for a JPEG segment")
        segment = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
        segments = list(_jpeg_segments(content))
        at = 2 if len(segments) > 1 and segments[1][:2] == b"\xff\xe0" else 1  # after SOI and JFIF's APP0
        return b"".join(segments[:at]) + segment + b"".join(segments[at:])
    chunk_data = _XMP_PNG_KEY + b"\x00\x00\x00\x00\x00" + packet  # iTXt: uncompressed, no language
    chunk = struct.pack(">I", len(chunk_data)) + b"iTXt" + chunk_data
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + chunk_data) & 0xFFFFFFFF)
    chunks = list(_png_chunks(content))
    return chunks[0] + chunks[1] + chunk + b"".join(chunks[2:])  # signature, IHDR, then the label


def xmp_packet(label: dict[str, str]) -> bytes:
    value = escape(json.dumps(label, ensure_ascii=False, separators=(",", ":")), {'"': "&quot;"})
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:{PREFIX}="{NAMESPACE}"><{PREFIX}:AIGC>{value}</{PREFIX}:AIGC>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


# --- JPEG / PNG / XMP ----------------------------------------------------------------------------------------


def _jpeg_segments(data: bytes):
    """SOI, each marker segment up to SOS, then the rest (scan data and EOI) as one piece."""
    yield data[:2]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise LabelError("broken JPEG: no marker where one was expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            yield data[pos:]
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield data[pos : pos + 2 + length]
        pos += 2 + length
    raise LabelError("broken JPEG: no image data")


def _is_xmp_segment(segment: bytes) -> bool:
    return segment[:2] == b"\xff\xe1" and segment[4 : 4 + len(_XMP_JPEG_HEADER)] == _XMP_JPEG_HEADER


def _png_chunks(data: bytes):
    yield data[:8]
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        yield data[pos : pos + 12 + length]
        pos += 12 + length


def _is_xmp_chunk(chunk: bytes) -> bool:
    return chunk[4:8] == b"iTXt" and chunk[8:].startswith(_XMP_PNG_KEY + b"\x00")


def _read_xmp(data: bytes, fmt: str) -> str | None:
    packets: list[bytes] = []
    if fmt == "jpeg":
        packets = [seg[4 + len(_XMP_JPEG_HEADER) :] for seg in _jpeg_segments(data) if _is_xmp_segment(seg)]
    else:
        for chunk in _png_chunks(data):
            if _is_xmp_chunk(chunk):
                body = chunk[8:-4][len(_XMP_PNG_KEY) + 1 :]
                compressed = body[0] == 1
                text = body[2:].split(b"\x00", 2)[-1]  # after the language tag and translated keyword
                packets.append(zlib.decompress(text) if compressed else text)
    for packet in packets:
        value = _aigc_from_xmp(packet)
        if value is not None:
            return value
    return None


def _aigc_from_xmp(packet: bytes) -> str | None:
    xml = re.sub(rb"<\?xpacket[^>]*\?>", b"", packet).strip()
    try:
        root = fromstring(xml)  # defused: no entities, no external references
    except (ParseError, DefusedXmlException) as exc:
        raise LabelError("unreadable XMP packet") from exc
    name = f"{{{NAMESPACE}}}AIGC"
    for element in root.iter():
        if element.tag == name:
            return element.text or ""
        if name in element.attrib:
            return element.attrib[name]
    return None


# --- MP4 -----------------------------------------------------------------------------------------------------


def _mp4_boxes(data: bytes, start: int = 0, end: int | None = None):
    pos, end = start, len(data) if end is None else end
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise LabelError("broken MP4 box")
        yield kind, data[pos + header : pos + size]
        pos += size


def _read_mp4(data: bytes) -> str | None:
    """``moov/udta/meta``'s ``mdta`` key ``AIGC`` (its value in ``ilst``: item index = key index)."""
    for kind, moov in _mp4_boxes(data):
        if kind != b"moov":
            continue
        for kind2, udta in _mp4_boxes(moov):
            if kind2 != b"udta":
                continue
            for kind3, meta in _mp4_boxes(udta):
                if kind3 == b"meta":
                    value = _mdta_value(meta[4:], b"AIGC")  # after the full box's version and flags
                    if value is not None:
                        return value
    return None


def _mdta_value(meta: bytes, wanted: bytes) -> str | None:
    keys: list[bytes] = []
    items: dict[int, bytes] = {}
    for kind, payload in _mp4_boxes(meta):
        if kind == b"keys":
            (count,) = struct.unpack(">I", payload[4:8])
            pos = 8
            for _ in range(count):
                (size,) = struct.unpack(">I", payload[pos : pos + 4])
                keys.append(payload[pos + 8 : pos + size])  # after size and namespace ('mdta')
                pos += size
        elif kind == b"ilst":
            for index_bytes, item in _mp4_boxes(payload):
                for kind2, data_box in _mp4_boxes(item):
                    if kind2 == b"data":
                        items[struct.unpack(">I", index_bytes)[0]] = data_box[8:]  # after type and locale
    for index, key in enumerate(keys, start=1):
        if key == wanted and index in items:
            return items[index].decode("utf-8")
    return None


def _remux_mp4(data: bytes, label_json: str) -> bytes:
    """The same media data in a new MP4 whose only metadata is the label; keeps the layout (fragmented or not).

    ffmpeg reads the MP4 from a pipe and writes to a pipe (fragmented) or to an anonymous memory file
    (``memfd``: a progressive MP4's index is written last and moved to the front, which needs a seekable output);
    nothing touches a disk.
    """
    from workers.generators.video import ffmpeg_exe

    fragmented = any(kind == b"moof" for kind, _ in _mp4_boxes(data))
    movflags = "use_metadata_tags+" + ("frag_keyframe+empty_moov+default_base_moof" if fragmented else "faststart")
    # fmt: off
    args = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "mp4", "-i", "pipe:0",
            "-map", "0", "-c", "copy", "-map_metadata", "-1", "-fflags", "+bitexact", "-movflags", movflags,
            "-metadata", f"AIGC={label_json}", "-f", "mp4", "-y"]
    # fmt: on
    if fragmented:
        return _ffmpeg([*args, "pipe:1"], data)
    fd = os.memfd_create("miaohua-mp4", os.MFD_CLOEXEC)
    try:
        _ffmpeg([*args, f"/dev/fd/{fd}"], data, pass_fds=(fd,))
        return os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)


def _ffmpeg(args: list[str], data: bytes, pass_fds: tuple[int, ...] = ()) -> bytes:
    proc = subprocess.run(args, input=data, capture_output=True, pass_fds=pass_fds, timeout=120, check=False)
    if proc.returncode != 0:
        raise LabelError(f"ffmpeg could not label the MP4: {proc.stderr.decode(errors='replace')[-500:]}")
    return proc.stdout
