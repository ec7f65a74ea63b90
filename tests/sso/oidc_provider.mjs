// A real OpenID Connect provider (npm `oidc-provider`) shaped like a Microsoft Entra tenant, for
// the SSO tests. Started and stopped by tests/sso/harness.py; never used outside tests.
//
//   node tests/sso/oidc_provider.mjs <config.json>
//
// config.json: {port, cert, key, prefix ("/tenant1/v2.0"), clientId, clientSecret,
//               redirectUris: [...], jwk: <private RSA JWK with kid>}
// Prints "READY <port>" once listening on 127.0.0.1 over HTTPS.
//
// Issuer = https://127.0.0.1:<port><prefix>; the provider is mounted under <prefix>.
// Accounts: the devInteractions login form accepts any login; the login is the account id and
// its claims come from POST /__control/accounts {id: {claims}} (defaults: email = login).
// ID tokens carry Entra's `tid` and `oid` claims (and `xms_edov` when an account sets it).
// POST /__control/tamper {mode} makes the token endpoint re-issue the ID token with one defect:
// "aud", "nonce", "iss", "exp", "forged" (signed by another key with the same kid), or null.
import fs from 'node:fs';
import https from 'node:https';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const prefix = config.prefix;
const TENANT_ID = config.tenantId ?? '11111111-2222-3333-4444-555555555555';

const accounts = new Map();
let tamper = null;

function claimsFor(id) {
  const custom = accounts.get(id) ?? {};
  return {
    sub: custom.sub ?? `sub-${id}`,
    tid: TENANT_ID,
    oid: custom.oid ?? `oid-${id}`,
    email: id.includes('@') ? id : undefined,
    email_verified: true,
    name: `Test ${id}`,
    preferred_username: id,
    ...custom,
  };
}

const server = https.createServer({
  cert: fs.readFileSync(config.cert),
  key: fs.readFileSync(config.key),
});
server.listen(config.port ?? 0, '127.0.0.1', async () => {
  const port = server.address().port;
  const issuer = `https://127.0.0.1:${port}${prefix}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.clientId,
      client_secret: config.clientSecret,
      redirect_uris: config.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    jwks: { keys: [config.jwk] },
    cookies: { keys: ['trackly-test-cookie-key'] },
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub', 'tid', 'oid', 'xms_edov'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return claimsFor(id); } };
    },
  });

  const signingKey = await jose.importJWK(config.jwk, 'RS256');
  const foreign = (await jose.generateKeyPair('RS256', { extractable: true })).privateKey;

  provider.use(async (ctx, next) => {
    await next();
    if (!tamper || ctx.method !== 'POST' || ctx.path !== '/token' || !ctx.body?.id_token) return;
    const payload = jose.decodeJwt(ctx.body.id_token);
    let key = signingKey;
    if (tamper === 'aud') payload.aud = 'some-other-client';
    if (tamper === 'nonce') payload.nonce = 'a-nonce-from-another-sign-in';
    if (tamper === 'iss') payload.iss = `https://127.0.0.1:${port}/other-tenant/v2.0`;
    if (tamper === 'exp') { payload.iat -= 7200; payload.exp = payload.iat + 600; }
    if (tamper === 'forged') key = foreign;
    ctx.body = {
      ...ctx.body,
      id_token: await new jose.SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: config.jwk.kid, typ: 'JWT' })
        .sign(key),
    };
  });

  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url.startsWith('/__control/')) {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        const data = body ? JSON.parse(body) : {};
        if (req.url === '/__control/accounts') {
          for (const [id, claims] of Object.entries(data)) accounts.set(id, claims);
        } else if (req.url === '/__control/tamper') {
          tamper = data.mode ?? null;
        } else if (req.url === '/__control/reset') {
          accounts.clear();
          tamper = null;
        }
        res.writeHead(204).end();
      });
      return;
    }
    if (req.url === prefix || req.url.startsWith(`${prefix}/`)) {
      req.originalUrl = req.url;
      req.url = req.url.slice(prefix.length) || '/';
      callback(req, res);
      return;
    }
    res.writeHead(404).end();
  });
  process.stdout.write(`READY ${port}\n`);
});

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
