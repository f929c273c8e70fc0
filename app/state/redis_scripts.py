"""The Lua scripts of `RedisState` (app/state/redis.py) and the key layout they share with it.

Operations that read and then write (connection limits, rate windows, typing expiry) are
scripts, which Redis runs atomically: two processes can never both take the last slot, and
two sweepers can never both announce the same typing expiry. Times are passed in as
arguments (the state's injected clock), never read inside a script.

Layout (P = `{prefix}:rt`):
  P:conn:{connection_id}   hash  sid, user_id, session_id, process_id
  P:user:{user_id}         set   connection ids of the user
  P:session:{session_id}   set   connection ids of the session
  P:heartbeats             zset  connection id -> last heartbeat (also the total count)
  P:typing                 zset  "{room_id}|{user_id}" -> last TypingStart
  P:typing_user:{user_id}  set   room ids the user is typing in
  P:rate:{key}             zset  token -> time of the hit (sliding window)
  P:activity               zset  user id -> last authenticated activity
  P:visible:{user_id}      set   connection ids of the user whose page is visible
  P:counters               hash  deployment-wide counters (push metrics)

The scripts build the per-user and per-session key names from the prefix they are given
instead of receiving every key in KEYS, which is fine for one Redis server or a primary
with replicas, not for Redis Cluster (documented in docs/deploy.md).
"""

# Separates room and user in a typing member; ids are UUIDs, which never contain it.
SEP = "|"

# KEYS: heartbeats. ARGV: P, connection_id, sid, user_id, session_id, process_id, now,
# max_per_user, max_total. Returns {accepted, refusal, user_connection_count}.
ADD_CONNECTION = """
local p = ARGV[1]
local user_key = p .. ':user:' .. ARGV[4]
local max_per_user = tonumber(ARGV[8])
local max_total = tonumber(ARGV[9])
local mine = redis.call('SCARD', user_key)
if max_per_user > 0 and mine >= max_per_user then
  return {0, 'user_limit', mine}
end
if max_total > 0 and redis.call('ZCARD', KEYS[1]) >= max_total then
  return {0, 'total_limit', mine}
end
redis.call('HSET', p .. ':conn:' .. ARGV[2], 'sid', ARGV[3], 'user_id', ARGV[4],
  'session_id', ARGV[5], 'process_id', ARGV[6])
redis.call('SADD', user_key, ARGV[2])
redis.call('SADD', p .. ':session:' .. ARGV[5], ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[7], ARGV[2])
redis.call('SADD', p .. ':visible:' .. ARGV[4], ARGV[2])
return {1, '', redis.call('SCARD', user_key)}
"""

# KEYS: heartbeats. ARGV: P, connection_id.
# Returns {} when unknown, else {sid, user_id, session_id, process_id, remaining}.
REMOVE_CONNECTION = """
local p = ARGV[1]
local conn_key = p .. ':conn:' .. ARGV[2]
local f = redis.call('HMGET', conn_key, 'sid', 'user_id', 'session_id', 'process_id')
if not f[1] then
  return {}
end
redis.call('DEL', conn_key)
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('SREM', p .. ':session:' .. f[3], ARGV[2])
local user_key = p .. ':user:' .. f[2]
redis.call('SREM', user_key, ARGV[2])
redis.call('SREM', p .. ':visible:' .. f[2], ARGV[2])
return {f[1], f[2], f[3], f[4], redis.call('SCARD', user_key)}
"""

# ARGV: P, connection_id, 1 (visible) or 0. Returns 0 when the connection is unknown.
SET_VISIBLE = """
local user = redis.call('HGET', ARGV[1] .. ':conn:' .. ARGV[2], 'user_id')
if not user then
  return 0
end
if ARGV[3] == '1' then
  redis.call('SADD', ARGV[1] .. ':visible:' .. user, ARGV[2])
else
  redis.call('SREM', ARGV[1] .. ':visible:' .. user, ARGV[2])
end
return 1
"""
# KEYS: heartbeats. ARGV: P, now, then six fields per connection (connection_id, sid,
# user_id, session_id, process_id, 1 when visible else 0). Refreshes each heartbeat;
# registers again a connection whose hash is gone (Redis restarted under live sockets), with
# its visibility (Web Push asks it). Returns the re-registered ids.
RESTORE_CONNECTIONS = """
local p = ARGV[1]
local restored = {}
for i = 3, #ARGV, 6 do
  local id = ARGV[i]
  local conn_key = p .. ':conn:' .. id
  if redis.call('EXISTS', conn_key) == 0 then
    redis.call('HSET', conn_key, 'sid', ARGV[i + 1], 'user_id', ARGV[i + 2],
      'session_id', ARGV[i + 3], 'process_id', ARGV[i + 4])
    redis.call('SADD', p .. ':user:' .. ARGV[i + 2], id)
    redis.call('SADD', p .. ':session:' .. ARGV[i + 3], id)
    if ARGV[i + 5] == '1' then
      redis.call('SADD', p .. ':visible:' .. ARGV[i + 2], id)
    end
    table.insert(restored, id)
  end
  redis.call('ZADD', KEYS[1], ARGV[2], id)
end
return restored
"""
# KEYS: typing. ARGV: P, room_id, user_id, now. Returns 1 when the user was not typing there.
START_TYPING = """
local fresh = redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2] .. '|' .. ARGV[3])
redis.call('SADD', ARGV[1] .. ':typing_user:' .. ARGV[3], ARGV[2])
return fresh
"""

# KEYS: typing. ARGV: P, room_id, user_id. Returns 1 when the user was typing there.
STOP_TYPING = """
local removed = redis.call('ZREM', KEYS[1], ARGV[2] .. '|' .. ARGV[3])
redis.call('SREM', ARGV[1] .. ':typing_user:' .. ARGV[3], ARGV[2])
return removed
"""

# KEYS: typing. ARGV: P, user_id. Returns the rooms the user was typing in.
STOP_TYPING_EVERYWHERE = """
local index = ARGV[1] .. ':typing_user:' .. ARGV[2]
local rooms = redis.call('SMEMBERS', index)
local ended = {}
for _, room in ipairs(rooms) do
  if redis.call('ZREM', KEYS[1], room .. '|' .. ARGV[2]) == 1 then
    table.insert(ended, room)
  end
end
redis.call('DEL', index)
return ended
"""

# KEYS: typing. ARGV: P, cutoff. Removes and returns members last refreshed before cutoff,
# in one step, so that concurrent sweepers split the expiries instead of repeating them.
EXPIRE_TYPING = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  local cut = string.find(member, '|', 1, true)
  redis.call('SREM', ARGV[1] .. ':typing_user:' .. string.sub(member, cut + 1),
    string.sub(member, 1, cut - 1))
end
return expired
"""

# KEYS: the rate window. ARGV: now, now - window, window in ms, limit, token.
# Returns {1} when a slot was taken, {0, oldest hit's time as a string} when refused.
# Times stay strings: Lua would format numbers with only 14 significant digits.
ACQUIRE_RATE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, oldest[2]}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
-- An idle window disappears by itself once all its hits have aged out.
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1}
"""
