// A real OpenID Connect provider (the `oidc-provider` package) for the single sign-on tests
// (crates/mp3converter/tests/sso.rs).
//
// It listens on 127.0.0.1, on a free port, and prints one JSON line: {"issuer": "http://..."}.
// Then it reads one JSON line on stdin, the client to register and the accounts:
//   {"client_id", "client_secret", "redirect_uri",
//    "accounts": {"<sub>": {"email": "...", "email_verified": true|false}, ...}}
// and prints {"ready": true}. It stops when stdin closes (the test ended).
//
// Interactions (login and consent) need no form: the test sends `login_hint=<sub>` with the
// authorization request, the login prompt logs that account in and consent is granted for the
// requested scopes. An unknown or missing login_hint answers 400.

import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
console.log(JSON.stringify({ issuer }));

const lines = readline.createInterface({ input: process.stdin });
const setup = await new Promise((resolve) => lines.once('line', (line) => resolve(JSON.parse(line))));
lines.on('close', () => process.exit(0));

const accounts = setup.accounts;
const provider = new Provider(issuer, {
  clients: [{
    client_id: setup.client_id,
    client_secret: setup.client_secret,
    redirect_uris: [setup.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email'],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = accounts[sub];
    if (!account) return undefined;
    return { accountId: sub, claims: () => ({ sub, ...account }) };
  },
  // Test keys are made at start (no `jwks` given: oidc-provider generates a development key).
});
provider.on('server_error', (ctx, err) => console.error('provider error:', err));

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const sub = params.login_hint;
    if (!sub || !accounts[sub]) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`unknown login_hint ${JSON.stringify(sub)}`);
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(400, { 'content-type': 'text/plain' });
  res.end(`unexpected prompt ${prompt.name}`);
}

const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction failed:', err);
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  } else {
    callback(req, res);
  }
});
console.log(JSON.stringify({ ready: true }));
