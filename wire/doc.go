// Package wire is the contract between SCIM Stream's collectors and its subscribers: the collector types,
// subjects, the Msg-Id header, durable consumer names, and the message envelope with its encoding and decoding.
// SCIM Stream must work, unmodified, with the open-source Node "SCIM Gateway" (jelhub/scimgateway v6.x) as a
// subscriber, and with the bundled gateway; what follows is what that client does on the wire, and so what the
// broker and every published message must satisfy.
//
// # Connection
//
//   - Client configuration: stream.baseUrls (NATS URLs), stream.certificate.ca (CA file), and per entity
//     nats: {tenant, subject, jwt, secret}, where jwt is a NATS user JWT and secret is that user's NKey seed
//     (SU…): the two blocks of a .creds file.
//   - TLS is mandatory on the client port: the client requires a server certificate that chains to the CA it
//     was given and matches the host name in the URL. Standard NATS TLS upgrade after INFO; no client
//     certificate.
//   - server_name in INFO must be exactly "SCIM-Stream". With any other value the client closes the connection
//     silently and never retries.
//   - Authentication is NATS decentralized JWT: operator, then one account per (tenant, collector type), then
//     user JWTs signed by an account signing key.
//   - The client needs nats-server 2.9.4 or later (consumer API), with headers enabled.
//
// # JetStream subscribers (subjects ENTRA.*, HR.*)
//
//   - The stream name is the tenant name verbatim (nats.tenant). The client never creates streams, and a
//     missing stream makes it stop for good. So the broker creates, in each (tenant, type) account, one stream
//     named <tenant> covering that type's subjects (ENTRA.> or HR.>): limits retention, max_age from the
//     configuration (default 14 days), file storage. It is not a work queue: several durables may read the
//     same subject.
//   - The filter subject is nats.subject verbatim, e.g. ENTRA.APP1, HR.SF, or with wildcards ENTRA.AD.* or
//     ENTRA.>. Subjects carry no tenant prefix: tenants and types are separated by NATS account only
//     ([Subject], [TypeOf]).
//   - The durable consumer is named durable_<pluginName>_<entityKey> with, over the whole string, '*' -> '#',
//     '>' -> "##", '.' -> '_' (e.g. durable_plugin-loki_undefined; [DurableName]). It is a pull consumer with
//     deliver policy all, explicit ack, filter = subject. The client looks it up
//     ($JS.API.CONSUMER.INFO.<T>.<D>) and creates it when missing ($JS.API.CONSUMER.CREATE.<T>.<D>.<filter>);
//     it refuses a consumer whose deliver policy is not all, and re-filters an existing durable in place when
//     its subject changed. The broker may pre-create it (e.g. for a longer ack wait) with exactly those
//     settings.
//   - The client pulls batches of 100 and processes one message at a time; it acks with +ACK and never naks.
//     Unacked messages come back after the ack wait (default 30 s).
//   - The least permissions verified sufficient for such a user (T = tenant stream, D = durable): publish
//     $JS.API.INFO, $JS.API.CONSUMER.INFO.T.D, $JS.API.CONSUMER.CREATE.T.D.>, $JS.API.CONSUMER.MSG.NEXT.T.D,
//     $JS.ACK.T.D.>; subscribe _INBOX.>.
//
// # Messages on ENTRA.* and HR.*
//
//   - Every message has a header Msg-Id (exactly that spelling, [MsgIDHeader]) with a unique id. The client
//     acks and drops a message without it, silently. Nats-Msg-Id ([NatsMsgIDHeader]) carries the same value so
//     that JetStream de-duplicates retries.
//   - The body is a UTF-8 JSON object ([Message], written by [AppendMessage], read by [Decode]). The client
//     reads activityOperation ([CreateUser], [ModifyUser], [DeleteUser]; anything else is treated as
//     create-or-update), user (a full SCIM user: userName is required and is the lookup key, the onCreate
//     object holds create-only attributes, active may be a boolean) and Operations (SCIM PATCH operations;
//     every entry must have a string path). The other fields (activityDateTime, initiatedById,
//     initiatedByUpn, targetId, targetUpn) are for rules, audit and other consumers.
//   - Each message carries the full user as it should be after the change (the client treats it as a replace,
//     unless soft sync), with only the groups and roles the channel's rules allow.
//   - Roles look like {"type": "<application>", "display": "...", "value": "..."}, groups like
//     {"display": "...", "value": "..."}; a group's value is its display name unless use_original_group_id.
//
// # Gateway request-reply (subjects GW.*)
//
//   - Core NATS request-reply inside the tenant's GW account, no JetStream. The publishing gateway sends a
//     request to GW.<channel> with header Msg-Id and waits (the Node client waits only 1 s). The payload is
//     JSON describing the HTTP request: {ctx: {request: {method, url, headers, body}, routeObj: {method,
//     baseEntity, handle, id}, query, path}, baseEntity}, where handle is users, groups, api, …, and the
//     authorization header is encrypted with a key derived from the Msg-Id.
//   - The reply is JSON {headers, status, body}, where body is the SCIM JSON as a string (no status means
//     200), or {error, errName} on failure.
//   - The Node subscriber uses no queue group (every subscriber executes every request) and drops its
//     subscription after 100 requests. The bundled gateway uses a queue group per subject, so each request is
//     executed exactly once and load is spread, with no such limit.
//   - Permissions: a GW publisher user may publish GW.<x> and subscribe _INBOX.>; a GW subscriber user may
//     subscribe GW.<x> (queue) and publish to reply subjects only (allow-responses).
//
// # Isolation
//
//   - A user of tenant A can see nothing of tenant B.
//   - A subscriber of type ENTRA can read no HR or GW message of its own tenant, and likewise for each type.
//     The Node client must be allowed to subscribe to _INBOX.> (its pull replies go to _INBOX.<random>), and
//     inside one NATS account any user with that permission can read every other user's pull replies.
//     Permissions inside one account therefore cannot separate types: the boundary is one NATS account per
//     (tenant, collector type), each holding its own stream named <tenant> with only that type's subjects. A
//     subscriber is authorized for the tenant and collector type (account) that signed its JWT. The publisher
//     holds a connection per (tenant, type) account; the collector's own state lives in an account no
//     subscriber can join.
//   - Within one (tenant, type) account, two subscribers (say the APP1 and APP2 gateways) can see each other's
//     replies for the same reason: separate tenants isolate them completely.
//   - Subscribers can never publish to ENTRA.* or HR.*, create streams, delete anything, or read the state
//     buckets.
//   - Denied JetStream requests often look like time-outs to a client; the broker logs permission violations
//     with the user's name so that an operator can see why.
package wire
