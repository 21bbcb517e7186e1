"""The Lua scripts of the Redis queue.

Each change that must not be seen half done runs as one script, which Redis executes
atomically and writes to its append-only file as one transaction: the backlog check with
the ``XADD``, the ``XADD`` with the hit counter, the ``XACK`` with the ``XDEL`` and the
counter. Every script touches the keys of one partition only (see :mod:`.keys`).

Stream entries carry two fields, ``payload`` (the protobuf batch) and ``hits`` (its count);
dead letters add ``reason`` and ``entry`` (the id the batch had in the stream).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Lua:
    """A script and the SHA1 by which Redis runs it (``EVALSHA``) once it has seen it."""

    text: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.text.encode()).hexdigest()


# Shared by the scripts below that need them; Lua scripts cannot call one another.
_FIELDS = """
local function fields_of(flat)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  return fields
end
"""
_ENQUEUE = """
local function enqueue(stream, counter, payload, hits, limit)
  local backlog = tonumber(redis.call('GET', counter) or '0')
  if backlog + tonumber(hits) > tonumber(limit) then return false end
  redis.call('XADD', stream, '*', 'payload', payload, 'hits', hits)
  redis.call('INCRBY', counter, hits)
  return true
end
"""

# KEYS: stream, hits. ARGV: payload, hits, limit. Returns 1 when added, 0 when the partition is full.
PUBLISH = Lua(
    _ENQUEUE
    + """
if enqueue(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]) then return 1 end
return 0
"""
)

# KEYS: stream. ARGV: group, consumer, min idle ms, XAUTOCLAIM cursor, count.
# Hands out up to count entries: first those unacknowledged for min idle ms (a consumer died
# or stalled), with their delivery counts, then entries never delivered.
# Returns {next cursor, {{id, {field, value, ...}, deliveries}, ...}}.
TAKE = Lua(
    """
local group, consumer, count = ARGV[1], ARGV[2], tonumber(ARGV[5])
local claimed = redis.call('XAUTOCLAIM', KEYS[1], group, consumer, ARGV[3], ARGV[4], 'COUNT', count)
local taken = {}
for _, entry in ipairs(claimed[2]) do
  local pending = redis.call('XPENDING', KEYS[1], group, entry[1], entry[1], 1, consumer)
  taken[#taken + 1] = {entry[1], entry[2], pending[1][4]}
end
if #taken < count then
  local fresh = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #taken, 'STREAMS', KEYS[1], '>')
  if fresh then
    for _, entry in ipairs(fresh[1][2]) do taken[#taken + 1] = {entry[1], entry[2], 1} end
  end
end
return {claimed[1], taken}
"""
)

# KEYS: stream, hits. ARGV: group, then (entry id, hits) pairs. Returns the hits acknowledged.
# An entry counts only when its XACK removed it from the pending list, so acknowledging twice
# (or after another consumer did) never lowers the counter twice. The hits come from the
# delivery, which read them from the entry: reading the entry again would copy its payload.
ACK = Lua(
    """
local acknowledged = 0
for i = 2, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    acknowledged = acknowledged + tonumber(ARGV[i + 1])
  end
end
if acknowledged > 0 then redis.call('DECRBY', KEYS[2], acknowledged) end
return acknowledged
"""
)

# KEYS: stream, hits, dead. ARGV: group, entry id, reason, payload, hits: what the dead letter
# keeps, the whole entry or the part of it that failed. The entry is removed and its own hits
# leave the backlog counter. Returns 1 when moved, 0 when the entry was not pending (already
# acknowledged or dead-lettered).
DEAD_LETTER = Lua(
    _FIELDS
    + """
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])[1]
if not entry then return 0 end
local fields = fields_of(entry[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DECRBY', KEYS[2], fields.hits)
redis.call('XADD', KEYS[3], '*', 'payload', ARGV[4], 'hits', ARGV[5], 'reason', ARGV[3], 'entry', ARGV[2])
return 1
"""
)

# KEYS: stream, hits, dead. ARGV: dead letter id, limit.
# Returns 1 when replayed, 0 when there is no such dead letter, -1 when the partition is full.
REPLAY = Lua(
    _FIELDS
    + _ENQUEUE
    + """
local letter = redis.call('XRANGE', KEYS[3], ARGV[1], ARGV[1])[1]
if not letter then return 0 end
local fields = fields_of(letter[2])
if not enqueue(KEYS[1], KEYS[2], fields.payload, fields.hits, ARGV[2]) then return -1 end
redis.call('XDEL', KEYS[3], ARGV[1])
return 1
"""
)

# KEYS: stream, group marker. ARGV: group, now (epoch ms). Creates the group (and the stream)
# unless it exists. Returns {0} when it existed, {1} when created for the first time, and
# {2, first creation time} when created again though the marker says it existed before: the
# stream was lost, with the batches it held.
ENSURE_GROUP = Lua(
    """
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(created) == 'table' and created.err then
  if string.find(created.err, 'BUSYGROUP', 1, true) then
    redis.call('SET', KEYS[2], ARGV[2], 'NX')
    return {0}
  end
  return created
end
local first = redis.call('GET', KEYS[2])
if first then return {2, first} end
redis.call('SET', KEYS[2], ARGV[2])
return {1}
"""
)

# KEYS: stream. ARGV: group, idle ms. Removes the consumers idle that long with no entry
# pending (indexers that are gone); one with entries pending stays until they are claimed,
# or they would never be delivered again. Returns how many were removed.
PRUNE_CONSUMERS = Lua(
    _FIELDS
    + """
local removed = 0
for _, flat in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local consumer = fields_of(flat)
  if consumer.pending == 0 and consumer.idle >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], consumer.name)
    removed = removed + 1
  end
end
return removed
"""
)

# KEYS: stream, hits. Returns {entries, hits, id of the oldest entry or false}; the oldest
# entry's payload stays in Redis.
BACKLOG = Lua(
    """
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
return {redis.call('XLEN', KEYS[1]), tonumber(redis.call('GET', KEYS[2]) or '0'), oldest and oldest[1] or false}
"""
)

# KEYS: the salt of a day, the salt of two days before. ARGV: a new salt, when the day's expires (Unix s).
# Returns the day's salt, made from ARGV[1] by the first caller (deleting the old one then).
SALT = Lua(
    """
local salt = redis.call('GET', KEYS[1])
if salt then return salt end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
redis.call('DEL', KEYS[2])
return ARGV[1]
"""
)
