#!/usr/bin/env node
'use strict';
// Reference peer: Node's own socket.io server speaking just enough of PROTOCOL.md to run the
// fan-out and idle scenarios: JoinRoom {room_id} (ack RoomJoined) and NewMessage
// {room_id, content, client_message_id} broadcast to the room with a MessageDelivered ack.
// No database, no auth. Listens on 127.0.0.1:PORT (argv[2] or env PORT).

const http = require('http');
const { randomUUID } = require('crypto');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 8101);
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404);
  res.end();
});
const io = new Server(server, { transports: ['websocket'], serveClient: false });
const seqs = new Map();

io.on('connection', (socket) => {
  socket.on('JoinRoom', (data, ack) => {
    const room = data && data.room_id;
    if (typeof room !== 'string') return ack && ack({ type: 'Error', data: { code: 'invalid_message_format' } });
    socket.join(room);
    if (ack) ack({ type: 'RoomJoined', data: { room: { id: room, name: room, kind: 'open' } } });
  });
  socket.on('NewMessage', (data, ack) => {
    const room = data && data.room_id;
    if (typeof room !== 'string' || !socket.rooms.has(room)) {
      if (ack) ack({ type: 'MessageError', data: { client_message_id: data && data.client_message_id, code: 'room_access_denied', error: 'not in room' } });
      return;
    }
    const seq = (seqs.get(room) || 0) + 1;
    seqs.set(room, seq);
    const message = {
      id: randomUUID(),
      room_id: room,
      creator_id: socket.id,
      content: data.content,
      client_message_id: data.client_message_id,
      created_at: new Date().toISOString(),
      seq,
    };
    io.to(room).emit('NewMessage', { message, room_id: room });
    if (ack) ack({ type: 'MessageDelivered', data: { client_message_id: data.client_message_id, message_id: message.id, seq } });
  });
});

server.listen(port, '127.0.0.1', () => process.stderr.write(`node socket.io peer on 127.0.0.1:${port}\n`));
const stop = () => {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
