"""Stream the messages of a recording, one at a time, decoded with rosbags (no ROS needed).

Input: a rosbag2 directory (MCAP or SQLite storage, split files read in turn, with or without
metadata.yaml) or a bare `.mcap` / `.db3` file, whoever wrote it (the package's recorder,
`ros2 bag record -s mcap`, rosbags, mcap-ros2-support), or the directory `competency-cf record`
wrote, whose parts (`bag`, then `bag_1`, `bag_2`, ... when the recording was split) are read in
turn as one drive. Topics are chosen by message type, so a
namespaced graph (`/rover1/front/competency`) is read like the root one.

An intact file is read with rosbags' reader (its index, messages in time order). A file that
rosbags refuses (a recording cut short: no summary, no footer; a damaged chunk) is scanned record
by record from its start, and everything up to the damage is yielded, uncompressed chunks up to
the last whole message; `BagStream.damage` then says where and why reading stopped. Memory stays
flat: one chunk is decoded at a time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

MAGIC = b"\x89MCAP0\r\n"

# message types the run report reads, and the Image topics it takes (trigger frames only)
COMPETENCY = "competency_cf_msgs/msg/Competency"
COUNTERFACTUAL = "competency_cf_msgs/msg/Counterfactual"
EXPLANATION = "competency_cf_msgs/msg/Explanation"
SCENARIO_EVENT = "competency_cf_msgs/msg/ScenarioEvent"
IMAGE = "sensor_msgs/msg/Image"
TRIGGER_SUFFIX = "low_competency/image"
REPORT_TYPES = (COMPETENCY, COUNTERFACTUAL, EXPLANATION, SCENARIO_EVENT)


def report_topic(topic: str, msgtype: str) -> bool:
    """The run report's selection: the package's typed outputs, and the trigger frames."""
    if msgtype in REPORT_TYPES:
        return True
    return msgtype == IMAGE and topic.rstrip("/").endswith(TRIGGER_SUFFIX)


class BagError(ValueError):
    """A path that is not a readable recording (the message names it and says why)."""


@dataclass
class _Channel:
    topic: str
    msgtype: str
    definition: str  # ros2msg text from the file ("" when it carries none)


def storage_files(path: str | Path) -> list[Path]:
    """The storage files of a recording, in recording order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no recording at {path}")
    if path.is_file():
        if path.suffix not in (".mcap", ".db3"):
            raise BagError(f"{path} is neither a rosbag2 directory nor an .mcap or .db3 file")
        return [path]
    metadata = path / "metadata.yaml"
    if metadata.is_file():
        import yaml

        try:
            info = yaml.safe_load(metadata.read_text())["rosbag2_bagfile_information"]
            files = [path / name for name in info.get("relative_file_paths", [])]
        except (yaml.YAMLError, KeyError, TypeError):
            files = []
        files = [f for f in files if f.is_file()]
        if files:
            return files
    files = sorted(path.glob("*.mcap"), key=_split_index)
    files += sorted(path.glob("*.db3"), key=_split_index)
    if not files:
        raise BagError(f"{path} holds no .mcap or .db3 file (not a rosbag2 recording)")
    return files


def recording_parts(path: str | Path) -> list[Path]:
    """The parts of a recording in order: `DIR/bag`, `DIR/bag_1`, ... for the directory that
    `competency-cf record` wrote; the path itself for any other recording."""
    path = Path(path)
    first = path / "bag"
    if not path.is_dir() or not first.is_dir() or any(
            child.suffix in (".mcap", ".db3") or child.name == "metadata.yaml"
            for child in path.iterdir()):
        return [path]
    later = [child for child in path.glob("bag_*")
             if child.is_dir() and child.name[len("bag_"):].isdigit()]
    return [first] + sorted(later, key=lambda child: int(child.name[len("bag_"):]))


def _split_index(path: Path):
    stem = path.stem
    tail = stem.rsplit("_", 1)[-1]
    return (int(tail) if tail.isdigit() else -1, stem)


@dataclass
class BagStream:
    """Iterate `(topic, time_ns, message)` over the selected topics of a recording.

    `time_ns` is the recording's log time; messages are rosbags' typestore objects (fields as
    in the .msg, images' `data` as a numpy uint8 array). After iteration: `damage` (None, or
    where and why reading stopped), `undecodable` (messages skipped because their bytes did not
    decode), `read` (messages yielded), `notes` (how a file that rosbags refused was read).
    """

    path: Path
    select: Callable[[str, str], bool] = report_topic
    damage: str | None = None
    undecodable: int = 0
    read: int = 0
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __post_init__(self):
        self.path = Path(self.path)
        self.parts = recording_parts(self.path)
        self.files = [file for part in self.parts for file in storage_files(part)]

    def message_count(self) -> int | None:
        """Messages of the selected topics by the recording's own count (None if unknown)."""
        counts = [self._part_count(part) for part in self.parts]
        return None if None in counts else sum(counts)

    def _part_count(self, part: Path) -> int | None:
        from rosbags.rosbag2 import Reader, ReaderError

        if part.is_dir() and (part / "metadata.yaml").is_file():
            try:
                with Reader(part) as reader:
                    return sum(c.msgcount for c in reader.connections
                               if self.select(c.topic, c.msgtype))
            except (ReaderError, OSError, ValueError, KeyError):
                pass
        total = 0
        for path in storage_files(part):
            try:
                with Reader(path) as reader:
                    total += sum(c.msgcount for c in reader.connections
                                 if self.select(c.topic, c.msgtype))
            except (ReaderError, OSError, ValueError):
                return None
        return total

    def __iter__(self) -> Iterator[tuple[str, int, object]]:
        for part in self.parts:
            yield from self._part(part)
            if self.damage:
                return

    def _part(self, part: Path) -> Iterator[tuple[str, int, object]]:
        from rosbags.rosbag2 import Reader, ReaderError

        if part.is_dir() and (part / "metadata.yaml").is_file():
            # rosbags reads a whole rosbag2 directory (split files, file or message
            # compression) when it is intact; file by file otherwise
            reader = Reader(part)
            try:
                reader.open()
            except (ReaderError, OSError, ValueError, IndexError, KeyError, struct.error):
                pass
            else:
                yield from self._read(reader, part.name)
                return
        for path in storage_files(part):
            yield from self._file(path)
            if self.damage:
                return

    # --- one storage file -------------------------------------------------------------------

    def _file(self, path: Path):
        from rosbags.rosbag2 import Reader, ReaderError

        reader = Reader(path)
        try:
            reader.open()
        except (ReaderError, OSError, ValueError, IndexError, struct.error) as error:
            if path.suffix != ".mcap":
                self.damage = f"{path.name}: not readable ({error})"
                return
            yield from self._salvage(path, f"{error}".rstrip("."))
            return
        yield from self._read(reader, path.name)

    def _read(self, reader, name: str):
        """Every selected message of an open rosbags reader, which it then closes."""
        from rosbags.rosbag2 import ReaderError

        try:
            decoders = {}
            for connection in reader.connections:
                if self.select(connection.topic, connection.msgtype):
                    decoders[connection.id] = _decoder(connection.msgtype,
                                                       _definition(connection))
            selected = [c for c in reader.connections if c.id in decoders]
            try:
                for connection, time_ns, data in reader.messages(connections=selected):
                    yield from self._decoded(connection.topic, time_ns,
                                             decoders[connection.id], data)
            except (ReaderError, OSError, ValueError, IndexError, struct.error) as error:
                self.damage = f"{name}: reading stopped after {self.read} messages ({error})"
        finally:
            reader.close()

    def _decoded(self, topic, time_ns, decoder, data):
        try:
            message = decoder(bytes(data))
        except Exception:  # noqa: BLE001 - a message that does not decode is counted, not fatal
            self.undecodable += 1
            return
        self.read += 1
        yield topic, time_ns, message

    def _salvage(self, path: Path, why: str):
        """Scan an MCAP file from its start and yield every whole message up to the damage."""
        size = path.stat().st_size
        channels: dict[int, _Channel] = {}
        schemas: dict[int, tuple[str, str]] = {}
        decoders: dict[int, Callable] = {}
        with open(path, "rb") as stream:
            if stream.read(8) != MAGIC:
                self.damage = f"{path.name}: not an MCAP file ({why})"
                return
            position = 8
            while True:
                head = stream.read(9)
                if not head:
                    self.damage = (f"{path.name}: the file ends at byte {size} without its "
                                   f"summary and footer (cut short?); read {self.read} "
                                   "messages before the end")
                    return
                if len(head) < 9:
                    self.damage = self._cut(path, position, size)
                    return
                opcode, length = head[0], struct.unpack("<Q", head[1:])[0]
                if opcode in (0x02, 0x0F):  # footer, data end: every message has been read
                    self.notes.append(f"{path.name}: read record by record (rosbags: {why})")
                    return
                if opcode in (0x03, 0x04, 0x05, 0x06):
                    body = stream.read(length)
                    whole = len(body) == length
                else:
                    body, whole = b"", size >= position + 9 + length
                    stream.seek(min(position + 9 + length, size))
                if not whole and opcode != 0x06:
                    self.damage = self._cut(path, position, size)
                    return
                try:
                    if opcode == 0x06:
                        records, complete = _chunk_records(body, whole)
                        for op, record in records:
                            yield from self._record(op, record, schemas, channels, decoders)
                        if not complete:
                            self.damage = self._cut(path, position, size, chunk=True)
                            return
                    else:
                        yield from self._record(opcode, body, schemas, channels, decoders)
                except (ValueError, IndexError, struct.error, UnicodeDecodeError) as error:
                    self.damage = (f"{path.name}: damaged record at byte {position} of {size} "
                                   f"({error}); read {self.read} messages before it")
                    return
                position += 9 + length

    def _cut(self, path: Path, position: int, size: int, chunk: bool = False) -> str:
        what = "a chunk" if chunk else "a record"
        return (f"{path.name}: cut short at byte {size}: {what} starting at byte {position} is "
                f"incomplete; read the {self.read} messages before the damage")

    def _record(self, opcode, body, schemas, channels, decoders):
        if opcode == 0x03:
            schema_id = struct.unpack_from("<H", body)[0]
            name, offset = _string(body, 2)
            encoding, offset = _string(body, offset)
            data_length = struct.unpack_from("<I", body, offset)[0]
            data = body[offset + 4: offset + 4 + data_length]
            schemas[schema_id] = (name, data.decode() if encoding == "ros2msg" else "")
        elif opcode == 0x04:
            channel_id, schema_id = struct.unpack_from("<HH", body)
            topic, _ = _string(body, 4)
            msgtype, definition = schemas.get(schema_id, ("", ""))
            channels[channel_id] = _Channel(topic, msgtype, definition)
            if self.select(topic, msgtype):
                decoders[channel_id] = _decoder(msgtype, definition)
        elif opcode == 0x05:
            channel_id, _, log_time, _ = struct.unpack_from("<HIQQ", body)
            if channel_id in decoders:
                yield from self._decoded(channels[channel_id].topic, log_time,
                                         decoders[channel_id], body[22:])


def _string(body: bytes, offset: int) -> tuple[str, int]:
    length = struct.unpack_from("<I", body, offset)[0]
    end = offset + 4 + length
    if end > len(body):
        raise ValueError("string runs past its record")
    return body[offset + 4:end].decode(), end


def _chunk_records(body: bytes, whole: bool) -> tuple[list[tuple[int, bytes]], bool]:
    """The (opcode, body) records inside a chunk, and whether the chunk was whole. A cut
    uncompressed chunk gives its whole records; a cut compressed one gives none."""
    if len(body) < 36:
        return [], False
    _, _, uncompressed_size, crc = struct.unpack_from("<QQQI", body)
    compression, offset = _string(body, 28)
    if len(body) < offset + 8:
        return [], False
    records_length = struct.unpack_from("<Q", body, offset)[0]
    data = body[offset + 8: offset + 8 + records_length]
    if whole and len(data) == records_length:
        if compression:
            from rosbags.rosbag2.storage_mcap import decompress

            data = decompress(data, compression, uncompressed_size, crc)
        elif crc:
            import zlib

            if zlib.crc32(data) != crc:
                raise ValueError("chunk checksum mismatch")
    elif compression:
        return [], False
    records, position = [], 0
    while position + 9 <= len(data):
        opcode, length = data[position], struct.unpack_from("<Q", data, position + 1)[0]
        if position + 9 + length > len(data):
            break
        records.append((opcode, data[position + 9: position + 9 + length]))
        position += 9 + length
    return records, whole and position == len(data)


def _definition(connection) -> str:
    from rosbags.interfaces import MessageDefinitionFormat

    msgdef = connection.msgdef
    if msgdef is not None and msgdef.format == MessageDefinitionFormat.MSG:
        return msgdef.data
    return ""


_DEFAULT_STORE = None


def _decoder(msgtype: str, definition: str) -> Callable[[bytes], object]:
    """CDR bytes -> message: with the file's own definition when it carries one (a recording
    made by an older version of the messages decodes as it was written), else the ROS 2 and
    competency_cf_msgs types this package knows."""
    global _DEFAULT_STORE
    if definition:
        try:
            from rosbags.typesys import Stores, get_types_from_msg, get_typestore

            store = get_typestore(Stores.EMPTY)
            store.register(get_types_from_msg(definition, msgtype))
            return lambda data: store.deserialize_cdr(data, msgtype)
        except Exception:  # noqa: BLE001 - an unparsable definition: use the known types
            pass
    if _DEFAULT_STORE is None:
        from competency_cf.bag_types import default_typestore

        _DEFAULT_STORE = default_typestore()
    store = _DEFAULT_STORE
    if msgtype not in store.fielddefs:
        raise BagError(f"no definition of {msgtype} in the recording or in this package")
    return lambda data: store.deserialize_cdr(data, msgtype)
