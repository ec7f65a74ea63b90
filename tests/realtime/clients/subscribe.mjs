// Connects Microsoft's @azure/web-pubsub-client (reliable protocol, as shipped) with each given URL
// and prints one JSON line per thing that happens, for tests/realtime/test_microsoft_clients.py.
//   node subscribe.mjs name=<client url> [name=<client url> ...]
// Prints {name, event: "connected"}, then tries joinGroup("staff") and prints {name, event: "join",
// ok, error}, then {event: "ready"}; afterwards {name, event: "message", group, data, sequenceId}.
// Stops its clients and exits when stdin closes.
import { WebPubSubClient } from '@azure/web-pubsub-client';

const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const clients = [];

for (const arg of process.argv.slice(2)) {
  const at = arg.indexOf('=');
  const name = arg.slice(0, at);
  // No retries of a refused joinGroup: the refusal is the point.
  const client = new WebPubSubClient(arg.slice(at + 1), { messageRetryOptions: { maxRetries: 0 } });
  client.on('connected', (e) => print({ name, event: 'connected', connectionId: e.connectionId, userId: e.userId }));
  client.on('group-message', (e) =>
    print({ name, event: 'message', group: e.message.group, data: e.message.data, sequenceId: e.message.sequenceId }),
  );
  await client.start();
  try {
    await client.joinGroup('staff');
    print({ name, event: 'join', ok: true });
  } catch (error) {
    print({ name, event: 'join', ok: false, error: error.errorDetail?.name ?? String(error) });
  }
  clients.push(client);
}
print({ event: 'ready' });

process.stdin.resume();
process.stdin.on('end', async () => {
  for (const client of clients) client.stop();
  process.exit(0);
});
