/**
 * What each ocserv.conf option means, in ocserv-ts's words, grouped in the order of
 * ocserv's sample configuration. config-schema.ts copies `doc` and `default` into OPTIONS;
 * scripts/config-reference.js renders docs/CONFIG-REFERENCE.md and ocserv.conf.example from
 * this table and the option flags, so the two files cannot drift from the code (a test
 * compares them). Whether an option acts yet is not written here: it comes from the flags.
 *
 * `default`: the value in force when the option is absent (a literal, or words in
 * parentheses). `example`: a value to show in the example file; `set`: the example file
 * sets it (uncommented) rather than showing it commented out.
 */
export interface OptionDoc {
  doc: string;
  default?: string;
  example?: string | string[];
  set?: boolean;
}

export interface OptionGroup {
  title: string;
  intro?: string;
  options: Record<string, OptionDoc>;
}

const SAME = (name: string): OptionDoc => ({ doc: `Another spelling of ${name}; read exactly as ${name}.` });

export const OPTION_GROUPS: OptionGroup[] = [
  {
    title: 'Authentication and accounting',
    intro: 'Read once at start: a reload does not change them.',
    options: {
      'auth': {
        doc: 'A login method. With several auth lines a user must pass every one of them, in order. '
          + 'Methods: "plain[passwd=FILE]" (ocpasswd-format file; otp=FILE adds one-time passwords), '
          + '"pam[gid-min=N]" (docs/PAM.md), "radius[config=RADCLIENT-CONF,groupconfig=true]" (docs/RADIUS.md) '
          + 'and "certificate" (docs/AUTH-CERTIFICATES.md). '
          + 'gssapi and oidc are read but their logins fail: ocserv-ts has neither.',
        default: '(none: at least one is required)',
        example: '"plain[passwd=/etc/ocserv-ts/ocpasswd]"',
        set: true,
      },
      'enable-auth': {
        doc: 'An alternative to the whole auth chain: a client that passes any one enable-auth method is in, '
          + 'whatever the auth lines say. Same method syntax as auth.',
        default: '(none)',
        example: '"certificate"',
      },
      'acct': {
        doc: 'Where session accounting goes. Only "radius[config=RADCLIENT-CONF]" is available; '
          + 'interim updates follow stats-report-time (docs/ACCOUNTING.md).',
        default: '(no accounting)',
        example: '"radius[config=/etc/radcli/radiusclient.conf]"',
      },
    },
  },
  {
    title: 'Listening',
    options: {
      'listen-host': {
        doc: 'The address to listen on: an IP address, or a host name resolved once at start (every address it has is listened on).',
        default: '(all addresses)',
        example: '192.0.2.1',
      },
      'udp-listen-host': {
        doc: 'The address (or host name) for the UDP (DTLS) socket, when it should differ from listen-host.',
        default: '(listen-host)',
        example: '192.0.2.1',
      },
      'listen-host-is-dyndns': {
        doc: 'The server\'s own address changes (dynamic DNS): clients are told (X-CSTP-DynDNS) to resolve the name again when they reconnect.',
        default: 'false',
      },
      'listen-netns': {
        doc: 'Make the TCP and UDP sockets clients reach (and each DTLS client\'s UDP socket) inside this network namespace, '
          + 'by name as `ip netns` shows it (/var/run/netns/NAME); the server itself, its tun devices and routes stay in the namespace '
          + 'it was started in. A name that does not exist stops the server at start. Ignored with socket activation.',
        default: '(the server\'s own namespace)',
        example: 'vpn',
      },
      'tcp-port': {
        doc: 'TCP port of the TLS (CSTP) service.',
        default: '443',
        example: '443',
        set: true,
      },
      'udp-port': {
        doc: 'UDP port of the DTLS data channel. 0 or absent: no DTLS, every packet goes over TLS.',
        default: '0',
        example: '443',
        set: true,
      },
      'listen-clear-file': {
        doc: 'A UNIX socket for plain-HTTP connections from a TLS-terminating front end.',
        example: '/run/ocserv-clear.socket',
      },
      'listen-proxy-proto': {
        doc: 'Connections come through a proxy (e.g. HAProxy with send-proxy-v2) that starts each with a PROXY protocol header (v1 or v2) '
          + 'naming the client: its address is then the one bans, logs, occtl, scripts and RADIUS see. A connection without a valid '
          + 'header within 10 s is closed. UDP (DTLS) still goes straight from the client to udp-port.',
        default: 'false',
      },
    },
  },
  {
    title: 'Processes and files',
    intro: 'Read once at start, like ocserv: a reload keeps the values the server started with.',
    options: {
      'run-as-user': {
        doc: 'The unprivileged user the worker processes (those talking to clients) run as. '
          + 'It must be able to read the installed code; the server checks at start.',
        default: 'nobody',
        example: 'nobody',
        set: true,
      },
      'run-as-group': {
        doc: 'The group the worker processes run as.',
        default: 'nogroup',
        example: 'nogroup',
        set: true,
      },
      'occtl-socket-file': {
        doc: 'The UNIX socket occtl-ts talks to.',
        default: '/run/ocserv-ts-occtl.socket',
        example: '/run/ocserv-ts-occtl.socket',
      },
      'occtl-group': {
        doc: 'ocserv-ts only: members of this group may use occtl-ts as well as root.',
        default: '(root only)',
        example: 'vpnadmin',
      },
      'use-occtl': {
        doc: 'Open the occtl socket, so that occtl-ts can list and disconnect users and reload the configuration.',
        default: 'false',
        example: 'true',
      },
      'use-dbus': SAME('use-occtl'),
      'socket-file': {
        doc: 'Path prefix of the sockets between main, sec-mod and the workers.',
        default: '/run/ocserv-ts-socket',
        example: '/run/ocserv-ts-socket',
        set: true,
      },
      'chroot-dir': {
        doc: 'A directory the worker processes are confined to: each starts as root, loads its code and TLS context, chroots there '
          + 'and only then becomes run-as-user. It may be empty. As ocserv, a user-profile path that does not exist is looked up '
          + 'inside this directory; socket-file is unaffected (workers get their sockets from main, not by path).',
        example: '/var/lib/ocserv-ts',
      },
      'pid-file': {
        doc: 'Write the main process id here (-p on the command line wins).',
        default: '(none)',
        example: '/run/ocserv-ts.pid',
        set: true,
      },
      'sec-mod-scale': {
        doc: 'How many sec-mod (authentication) processes to run.',
        default: '(one)',
        example: '4',
      },
      'sec-mod-db-cleanup-time': {
        doc: 'How often (seconds) sec-mod sweeps expired sessions from its table; an expired session\'s accounting '
          + 'stop is sent then. 0 keeps the default. (ocserv 1.5 has it as an undocumented knob, default 310.)',
        default: '30',
        example: '300',
      },
      'isolate-workers': {
        doc: 'Give each worker a seccomp filter that allows only the system calls serving a client needs.',
        default: 'false',
        example: 'true',
        set: true,
      },
      'use-seccomp': SAME('isolate-workers'),
      'worker-memory-limit': {
        doc: 'ocserv-ts only: the resident memory (MiB) a worker process may reach. main measures every worker every 5 s; '
          + 'one over the bound (a leak, a misbehaving client) is killed and replaced, so only its own clients are affected: '
          + 'they reconnect by themselves with their cookies to another worker and keep their addresses '
          + '(as after a worker crash; accounting sees NAS-Error only if one never comes back). Workers also start with '
          + 'V8\'s heap capped at the same size. Keep it well above what clients-per-worker sessions need '
          + '(an idle worker holds about 60 MiB, each session well under 1 MiB). Unlike the rest of this section, a reload '
          + 'applies a new bound at once; running workers keep the heap cap they started with. At least 128; 0: no bound.',
        default: '1024',
        example: '1024',
      },
      'key-isolation': {
        doc: 'ocserv-ts only: true keeps the private keys in sec-mod alone, which signs each TLS handshake for the '
          + 'workers (docs/KEY-ISOLATION.md). false gives the keys to every worker, for a Node without OpenSSL '
          + 'engine support only; the server warns at start.',
        default: 'true',
        example: 'true',
      },
      'clients-per-worker': {
        doc: 'ocserv-ts only: how many clients one worker process serves. 1 is a process per client, as ocserv '
          + '(each session separated by the kernel, about 13 MB per session); the default shares workers, two per core (4 to 8) kept ready '
          + 'and the clients spread over them, '
          + 'which costs well under 1 MB per session but separates sessions by code rather than by the kernel (docs/BENCHMARKS.md). '
          + 'A shared worker runs at the CPU weight of the clients it serves (a lower nice value, as many processes would have), '
          + 'so that on a busy machine its clients get the share ocserv\'s process per client would.',
        default: '32',
        example: '32',
        set: true,
      },
      'log-level': {
        doc: 'Log verbosity on ocserv\'s scale: 0 (default) to 2 log operator events (logins, tunnels, '
          + 'warnings, errors), 3 adds debug detail, 4 and above protocol detail (HTTP, packets). '
          + 'A -d on the command line wins over it. Read at start.',
        default: '0',
        example: '1',
      },
      'syslog-facility': {
        doc: 'The syslog facility of the server\'s messages (ocserv 1.5).',
        example: 'daemon',
      },
      'use-utmp': {
        doc: 'Record each session in utmp so that `who` shows VPN users.',
        default: 'false',
      },
      'cgroup': {
        doc: 'Put worker processes into these cgroup-v1 controllers ("controller,controller:path").',
        example: '"cpuset,cpu:vpn"',
      },
      'debug-no-secmod-stats': {
        doc: 'An ocserv debugging switch for sec-mod\'s statistics.',
        default: 'false',
      },
    },
  },
  {
    title: 'Server certificate and TLS',
    options: {
      'server-cert': {
        doc: 'The server\'s certificate (PEM; a chain, leaf first, may follow). Repeat server-cert/server-key pairs '
          + 'to serve several key types side by side (e.g. ECDSA and RSA): the client\'s signature algorithms choose.',
        default: '(none: required)',
        example: '/etc/ocserv-ts/server-cert.pem',
        set: true,
      },
      'server-key': {
        doc: 'The private key of the server-cert given just before it (PEM file). Keep it owned by root, mode 600; '
          + 'a key the worker user can read is a warning at start.',
        default: '(none: required)',
        example: '/etc/ocserv-ts/server-key.pem',
        set: true,
      },
      'dh-params': {
        doc: 'Diffie-Hellman parameters (PEM) for the finite-field DHE cipher suites; without it those suites are not offered. '
          + 'A file that cannot be used stops the start.',
        example: '/etc/ocserv-ts/dh.pem',
      },
      'pin-file': {
        doc: 'A file holding the PIN or passphrase that unlocks server-key.',
        example: '/etc/ocserv-ts/pin.txt',
      },
      'srk-pin-file': {
        doc: 'A file holding the PIN of a TPM\'s storage root key.',
        example: '/etc/ocserv-ts/srkpin.txt',
      },
      'key-pin': {
        doc: 'The PIN or passphrase of server-key, written here instead of in pin-file.',
        example: '1234',
      },
      'srk-pin': {
        doc: 'The TPM storage root key PIN, written here instead of in srk-pin-file.',
        example: '1234',
      },
      'ca-cert': {
        doc: 'The CA that signs client certificates; needed by the certificate login method.',
        default: '(none)',
        example: '/etc/ocserv-ts/ca.pem',
      },
      'crl': {
        doc: 'A PEM revocation list of ca-cert: client certificates listed in it are refused.',
        default: '(none)',
        example: '/etc/ocserv-ts/crl.pem',
      },
      'cert-user-oid': {
        doc: 'Which part of a client certificate\'s subject is the user name: an OID (2.5.4.3 the CN, '
          + '0.9.2342.19200300.100.1.1 the UID) or SAN(rfc822name) for the e-mail address.',
        default: '2.5.4.3',
        example: '2.5.4.3',
      },
      'cert-group-oid': {
        doc: 'Which part of a client certificate\'s subject is the group (e.g. 2.5.4.11, the OU).',
        default: '(no group from the certificate)',
        example: '2.5.4.11',
      },
      'ocsp-response': {
        doc: 'A DER OCSP response for the server certificate, stapled to TLS handshakes when the client asks. '
          + 'Re-read on reload: replace the file atomically, then reload.',
        example: '/etc/ocserv-ts/ocsp.der',
      },
      'tls-priorities': {
        doc: 'The allowed TLS versions and cipher suites, as a GnuTLS priority string, translated for OpenSSL '
          + '(docs/TLS.md); parts with no counterpart are ignored with one warning. ocserv-ts offers TLS 1.2 and 1.3 only.',
        example: '"NORMAL:%SERVER_PRECEDENCE:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1"',
      },
      'match-tls-dtls-ciphers': {
        doc: 'Make the DTLS channel use the cipher (and MAC) the TLS channel chose; with no such DTLS suite the tunnel runs over TLS. '
          + 'Needs dtls-legacy = false and cisco-client-compat = false.',
        default: 'false',
      },
    },
  },
  {
    title: 'Clients, time limits and bans',
    intro: 'Times are in seconds; 0 means no limit unless said otherwise.',
    options: {
      'banner': {
        doc: 'A message the client shows after a successful login.',
        default: '(none)',
        example: '"Welcome to the VPN"',
      },
      'pre-login-banner': {
        doc: 'A message the client shows with the first login form.',
        example: '"Authorised users only"',
      },
      'max-clients': {
        doc: 'Most clients connected at once (0: no limit).',
        default: '0',
        example: '128',
        set: true,
      },
      'max-same-clients': {
        doc: 'Most sessions one user may have at once (0: no limit).',
        default: '0',
        example: '2',
        set: true,
      },
      'rate-limit-ms': {
        doc: 'Hand new connections to the workers at most one per this many milliseconds, smoothing login storms (0: no pacing).',
        default: '0',
        example: '100',
      },
      'server-drain-ms': {
        doc: 'On SIGTERM or SIGINT, close the listening sockets at once but keep the tunnels going for this many milliseconds '
          + 'before ending them, so that a load balancer\'s health check notices first (0: end at once).',
        default: '0',
        example: '15000',
      },
      'metrics-listen': {
        doc: 'ocserv-ts only: serve Prometheus metrics (sessions, logins, bans, traffic per server and group, workers) '
          + 'over HTTP at /metrics on this ADDRESS:PORT ([ADDRESS]:PORT for IPv6). Keep it on localhost or a '
          + 'monitoring network: it carries no authentication (docs/OPERATIONS.md).',
        default: '(no metrics endpoint)',
        example: '127.0.0.1:9616',
      },
      'status-listen': {
        doc: 'ocserv-ts only: serve a read-only HTML status page (connected users, their traffic, a graph of the '
          + 'last hour) on this ADDRESS:PORT. It shows user names and addresses to whoever reaches it, so keep it on '
          + 'localhost (reach it with an SSH tunnel); another address is a warning at start.',
        default: '(no status page)',
        example: '127.0.0.1:9617',
      },
      'stats-report-time': {
        doc: 'How often the traffic counters of each session are sent to accounting.',
        default: '360',
        example: '360',
      },
      'server-stats-reset-time': {
        doc: 'Seconds after which the current-period figures of `occtl-ts show status` (sessions handled, '
          + 'timeouts, errors, authentication failures, auth and session times, RX/TX) restart from zero; the totals and '
          + '"Last stats reset" show since when. 0: never. Read at start.',
        default: '604800',
        example: '604800',
      },
      'auth-timeout': {
        doc: 'How long a client may take to log in.',
        default: '240',
        example: '240',
        set: true,
      },
      'idle-timeout': {
        doc: 'End a session when the client has sent nothing for this long.',
        default: '0',
        example: '1200',
      },
      'mobile-idle-timeout': {
        doc: 'idle-timeout for mobile clients (those announcing a mobile platform).',
        default: '0',
        example: '2400',
      },
      'session-timeout': {
        doc: 'End a session this long after its login, reconnections included; the client must log in again.',
        default: '0',
        example: '86400',
      },
      'min-reauth-time': {
        doc: 'How long an address whose ban score passed max-ban-score is refused.',
        default: '300',
        example: '300',
      },
      'ban-time': {
        doc: 'ocserv 1.4.1\'s new name of min-reauth-time; read exactly as min-reauth-time.',
        example: '300',
      },
      'max-ban-score': {
        doc: 'Ban score at which an address is banned (0: no bans). Each failure adds points to its address.',
        default: '30',
        example: '80',
      },
      'ban-reset-time': {
        doc: 'An address\'s score drops back to zero after this long without new points.',
        default: '300',
        example: '1200',
      },
      'ban-points-wrong-password': {
        doc: 'Points for a failed login.',
        default: '10',
        example: '10',
      },
      'ban-points-connection': {
        doc: 'Points for each new connection.',
        default: '1',
        example: '1',
      },
      'ban-points-kkdcp': {
        doc: 'Points for each KKDCP request.',
        default: '1',
        example: '1',
      },
      'cookie-timeout': {
        doc: 'How long a session waits for its client to reconnect with its cookie after the connection is lost.',
        default: '300',
        example: '300',
        set: true,
      },
      'persistent-cookies': {
        doc: 'A client\'s logout leaves its cookie usable until it expires (helps clients that log out when they roam).',
        default: 'false',
        example: 'true',
      },
      'deny-roaming': {
        doc: 'A cookie only works from the address that logged in.',
        default: 'false',
        example: 'true',
      },
    },
  },
  {
    title: 'Keepalive, MTU, rekeying and compression',
    options: {
      'keepalive': {
        doc: 'Interval of the keepalive packets the client sends on an idle tunnel.',
        default: '32400',
        example: '32400',
        set: true,
      },
      'dpd': {
        doc: 'Dead peer detection interval: a tunnel silent for about this long is probed, then dropped.',
        default: '90',
        example: '90',
        set: true,
      },
      'mobile-dpd': {
        doc: 'dpd for mobile clients, longer to spare their batteries.',
        default: '1800',
        example: '1800',
        set: true,
      },
      'switch-to-tcp-timeout': {
        doc: 'Send the tunnel\'s traffic over TLS instead of DTLS after this long without UDP traffic from the client, '
          + 'until UDP arrives again (a NAT may have dropped the UDP mapping). A client that sends over TLS while DTLS is up '
          + 'gets its answers over TLS as well, whatever this says.',
        default: '(never)',
        example: '25',
      },
      'try-mtu-discovery': {
        doc: 'Probe the largest packet the DTLS path to each client carries (with padded DPD requests, so dpd must not be 0), '
          + 'and send larger packets over TLS instead of losing them. The tun device keeps its MTU.',
        default: 'false',
      },
      'mtu': {
        doc: 'The tunnel MTU offered to clients (576-65535); the client\'s own value may lower it.',
        default: '(from the client\'s and the path\'s values)',
        example: '1420',
      },
      'output-buffer': {
        doc: 'How many packets of the link MTU may wait to be sent to a client: the send buffer of its TCP socket (SO_SNDBUF), and '
          + 'of its UDP socket capped at 2048 bytes, as ocserv. The link MTU is `mtu` (else 1500), at most the client\'s. '
          + 'Unset or 0: the kernel\'s default.',
        example: '10',
      },
      'tunnel-all-dns': {
        doc: 'Send all the client\'s DNS queries through the tunnel, even with split routes.',
        default: 'false',
      },
      'rekey-time': {
        doc: 'Ask the client to renew its keys after this long, give or take 29 s so that clients do not all do it at once (0: never).',
        default: '86400',
        example: '172800',
      },
      'rekey-method': {
        doc: 'How to renew keys: "ssl" (on the same connection: a TLS 1.3 KeyUpdate, then a new DTLS session) or "new-tunnel" '
          + '(the client reconnects with its cookie). Clients on TLS 1.2 are told "new-tunnel" either way: ocserv-ts does not renegotiate.',
        default: 'new-tunnel',
        example: 'ssl',
      },
      'compression': {
        doc: 'Compress tunnel packets when the client offers it (X-CSTP-/X-DTLS-Accept-Encoding): LZ4 ("oc-lz4") '
          + 'or LZS ("lzs"), chosen for CSTP and DTLS separately, each packet on its own. Packets that do not shrink go as they are. '
          + 'Compression before encryption can reveal what a packet holds by its size; ocserv advises leaving it off.',
        default: 'false',
        example: 'true',
      },
      'compression-algo-priority': {
        doc: 'A method\'s priority, as ocserv: NAME:PRIORITY with NAME oc-lz4 (default 90) or lzs (80); of the '
          + 'methods a client offers the highest wins. May be repeated. A list of names in order of preference '
          + '(lz4:lzs, as newer ocserv documents it) is read too; anything else is logged and ignored.',
        example: 'lzs:100',
      },
      'no-compress-limit': {
        doc: 'Packets of up to this many bytes are sent uncompressed (low latency for voice); raised to 64 if lower.',
        default: '256',
        example: '256',
      },
      'net-priority': {
        doc: 'Socket priority (SO_PRIORITY, 0-6) of the client\'s TCP and UDP sockets, or the IP type of service (IPv6: traffic '
          + 'class) written in hexadecimal (0x00-0xff; 0x0 sets nothing). Also per user or group.',
        example: '3',
      },
    },
  },
  {
    title: 'Scripts',
    options: {
      'connect-script': {
        doc: 'Run when a client has its tunnel, with ocserv\'s environment (USERNAME, GROUPNAME, DEVICE, IP_REAL, '
          + 'IP_REMOTE, OCSERV_ROUTES, ...). A non-zero exit or a hang refuses the session.',
        default: '(none)',
        example: '/usr/local/sbin/vpn-connect',
      },
      'disconnect-script': {
        doc: 'Run when a session\'s tunnel closes, with the connect environment plus STATS_BYTES_IN, STATS_BYTES_OUT and STATS_DURATION.',
        default: '(none)',
        example: '/usr/local/sbin/vpn-disconnect',
      },
      'host-update-script': {
        doc: 'Run when a client tells its host name (REASON=host-update, REMOTE_HOSTNAME).',
        default: '(none)',
        example: '/usr/local/sbin/vpn-hostname',
      },
    },
  },
  {
    title: 'Network',
    options: {
      'device': {
        doc: 'Name prefix of the tun devices (vpns0, vpns1, ...).',
        default: 'vpns',
        example: 'vpns',
        set: true,
      },
      'predictable-ips': {
        doc: 'Give a user the same tunnel address each time, while it is free.',
        default: 'true',
        example: 'true',
        set: true,
      },
      'default-domain': {
        doc: 'The DNS search domain(s) given to clients, separated by spaces.',
        default: '(none)',
        example: 'example.com',
      },
      'ipv4-network': {
        doc: 'The IPv4 address pool: a network as a.b.c.d/len, a.b.c.d/netmask, or bare with ipv4-netmask. '
          + 'Its first address is the server\'s end of every tunnel.',
        default: '(none)',
        example: '10.73.224.0',
        set: true,
      },
      'ipv4-netmask': {
        doc: 'The netmask of a bare ipv4-network.',
        default: '(none)',
        example: '255.255.255.0',
        set: true,
      },
      'ipv6-network': {
        doc: 'The IPv6 address pool (prefix/len). Each client gets a network of ipv6-subnet-prefix bits '
          + 'from it; the network address with its last bit set is the server\'s end of every tunnel. '
          + 'With ipv4-network too, sessions are dual-stack; alone, IPv6-only (docs/IPV6.md).',
        default: '(none)',
        example: 'fd00:73:224::/48',
      },
      'ipv6-prefix': {
        doc: 'The length of the ipv6-network prefix, when not written with it (older form).',
        default: '(none)',
        example: '48',
      },
      'ipv6-subnet-prefix': {
        doc: 'The size of the IPv6 network each client gets (128: a single address; 64 is usual for networks). '
          + 'Must be longer than the ipv6-network prefix.',
        default: '128',
        example: '128',
      },
      'dns': {
        doc: 'A DNS server for clients; repeat for several.',
        default: '(none)',
        example: '10.73.224.1',
      },
      'ipv4-dns': SAME('dns'),
      'ipv6-dns': SAME('dns'),
      'nbns': {
        doc: 'A NetBIOS name server (WINS) for clients; repeat for several.',
        example: '10.73.224.3',
      },
      'ipv4-nbns': SAME('nbns'),
      'ipv6-nbns': SAME('nbns'),
      'split-dns': {
        doc: 'A domain whose names the clients resolve through the VPN\'s DNS servers; repeat for several.',
        example: 'example.com',
      },
      'ping-leases': {
        doc: 'Before giving out an IPv4 address of a pool, ping it (one echo request, up to 3 seconds) and skip it if a host answers; '
          + 'other clients are served meanwhile. Addresses given explicitly or kept from a client\'s previous tunnel are not pinged. '
          + 'Main keeps the capability to ping (CAP_NET_RAW) only when started with it: turning it on needs a restart.',
        default: 'false',
      },
      'rx-data-per-sec': {
        doc: 'Limit each client\'s upload to this many bytes per second.',
        example: '40000',
      },
      'tx-data-per-sec': {
        doc: 'Limit each client\'s download to this many bytes per second.',
        example: '40000',
      },
      'route': {
        doc: 'A network the clients send through the VPN (a.b.c.d/len or a.b.c.d/netmask); repeat for several. '
          + '"default", or no route at all, sends everything through the VPN.',
        default: '(everything)',
        example: '10.73.224.0/255.255.255.0',
        set: true,
      },
      'no-route': {
        doc: 'A network inside the routes that the clients reach directly, not through the VPN; repeat for several.',
        default: '(none)',
        example: '192.168.0.0/255.255.0.0',
      },
      'append-routes': {
        doc: 'When a user or group file, or RADIUS, gives a session its own routes, the route and no-route lines '
          + 'here are added to them instead of being replaced.',
        default: 'false',
      },
      'iroute': {
        doc: 'A network behind a client, routed to it by the server (ocserv takes it in per-user and per-group files).',
        example: '192.168.50.0/24',
      },
      'restrict-user-to-routes': {
        doc: 'Firewall each client so it reaches only its routes.',
        default: 'false',
      },
      'restrict-user-to-ports': {
        doc: 'Firewall each client to these protocols and ports, e.g. "tcp(443), udp(53), icmp()", or all but them with "!(...)".',
        example: '"tcp(443), tcp(80), udp(53)"',
      },
      'expose-iroutes': {
        doc: 'Route every client\'s iroutes to all the other clients too.',
        default: 'false',
      },
      'route-add-cmd': {
        doc: 'The command that adds an iroute: %{R} is the network/netmask, %{RI} the network/len, %{D} the tun device.',
        default: '"ip route add %{R} dev %{D}" (ocserv has none)',
        example: '"ip route add %{R} dev %{D}"',
      },
      'route-del-cmd': {
        doc: 'The command that removes an iroute, with the same placeholders as route-add-cmd.',
        default: '"ip route delete %{R} dev %{D}" (ocserv has none)',
        example: '"ip route delete %{R} dev %{D}"',
      },
    },
  },
  {
    title: 'Groups and per-user settings',
    options: {
      'select-group': {
        doc: 'A group the user may pick in the login form, as NAME or NAME[Label shown]; repeat for several.',
        default: '(none)',
        example: 'staff[Staff network]',
      },
      'default-select-group': {
        doc: 'The label of the choice that means "my default group".',
        default: '(none)',
        example: 'DEFAULT',
      },
      'auto-select-group': {
        doc: 'Offer every group the auth method knows (e.g. PAM\'s groups from gid-min up) instead of listing them.',
        default: 'false',
        example: 'true',
      },
      'select-group-by-url': {
        doc: 'A client connecting to https://server/GROUP asks for group GROUP (as if chosen in the group list, '
          + 'which is then not shown). From ocserv 1.3.',
        default: 'false',
      },
      'config-per-user': {
        doc: 'A directory of per-user settings files, each named after a user.',
        example: '/etc/ocserv-ts/config-per-user/',
      },
      'config-per-group': {
        doc: 'A directory of per-group settings files, each named after a group.',
        example: '/etc/ocserv-ts/config-per-group/',
      },
      'default-user-config': {
        doc: 'The settings file for users with no file in config-per-user.',
        example: '/etc/ocserv-ts/defaults/user.conf',
      },
      'default-group-config': {
        doc: 'The settings file for groups with no file in config-per-group.',
        example: '/etc/ocserv-ts/defaults/group.conf',
      },
    },
  },
  {
    title: 'Client extras',
    options: {
      'proxy-url': {
        doc: 'A proxy auto-configuration URL for clients (X-CSTP-MSIE-Proxy-PAC-URL; openconnect passes it to its script as CISCO_PROXY_PAC); '
          + '%{U} and %{G} become the user and group.',
        example: 'http://proxy.example.com/%{G}.pac',
      },
      'kkdcp': {
        doc: 'Serve MS-KKDCP: "URL-PATH REALM PROTOCOL@KDC:PORT"; repeat for several.',
        example: '"/KdcProxy EXAMPLE.COM udp@127.0.0.1:88"',
      },
      'user-profile': {
        doc: 'An AnyConnect profile (XML) sent to clients, e.g. to list other servers: the login\'s success answer names it '
          + '(/profiles/FILE-NAME and its SHA-1) and the client fetches it with its new cookie on the same connection. '
          + 'Read at start and on reload; a file that cannot be read stops the start.',
        example: 'profile.xml',
      },
      'custom-header': {
        doc: 'An extra header in the answer to the client\'s CONNECT (with the tunnel\'s parameters); %{U} and %{G} become the user and group. '
          + 'Repeat for several.',
        example: '"X-My-Header: hi"',
      },
      'included-http-headers': {
        doc: 'An extra header ("Name: value", e.g. Strict-Transport-Security: max-age=31536000) in every successful HTTP answer '
          + 'before the tunnel, as ocserv (not in error answers or the CONNECT reply); the value is taken as written, quotes included. Repeat for several.',
        example: 'X-Frame-Options: deny',
      },
      'camouflage': {
        doc: 'Answer like an ordinary web server (401 with camouflage_realm, else 404) unless the URL ends in ?camouflage_secret: '
          + 'clients connect to https://server/?SECRET. Needs camouflage_secret.',
        default: 'false',
      },
      'camouflage_secret': {
        doc: 'The secret a client appends to the URL (https://server/?SECRET) to reach the VPN when camouflage is on.',
        example: '"a-long-random-string"',
      },
      'camouflage-secret': SAME('camouflage_secret'),
      'camouflage_realm': {
        doc: 'The realm of the HTTP authentication prompt shown to visitors without the secret.',
        example: '"Restricted"',
      },
      'camouflage-realm': SAME('camouflage_realm'),
    },
  },
  {
    title: 'Client compatibility',
    options: {
      'cisco-client-compat': {
        doc: 'Accept Cisco AnyConnect clients\' habits: the legacy DTLS (implies dtls-legacy = true), and with certificate '
          + 'authentication a tunnel opened with the cookie alone. When false, the connection that opens the tunnel must present '
          + 'a valid client certificate too.',
        default: 'false',
      },
      'always-require-cert': {
        doc: 'ocserv\'s old, inverted name of cisco-client-compat.',
        example: 'false',
      },
      'cisco-svc-client-compat': {
        doc: 'ocserv 1.2\'s mode for the VPN client of Cisco IP phones (a /svc login, DTLS resumed from the TLS session).',
        default: 'false',
      },
      'dtls-psk': {
        doc: 'Offer the DTLS channel keyed from the TLS session (PSK-NEGOTIATE, openconnect 7.08 and later).',
        default: 'true',
        example: 'true',
      },
      'dtls-legacy': {
        doc: 'Offer AnyConnect\'s legacy DTLS (resumed with the client\'s master secret; includes Cisco\'s pre-standard DTLS 0.9).',
        default: 'true',
        example: 'true',
      },
      'client-bypass-protocol': {
        doc: 'Tell the client to leave an IP version it got no address for outside the VPN, instead of dropping that traffic '
          + '(AnyConnect; openconnect ignores it). Also in per-user and per-group files.',
        default: 'false',
      },
      'no-udp': {
        doc: 'Offer no DTLS channel (ocserv takes it in per-user and per-group files).',
        default: 'false',
      },
      'session-control': {
        doc: 'An option of old ocserv versions.',
        example: 'true',
      },
    },
  },
  {
    title: 'Cluster (ocserv-ts only)',
    intro: 'Several ocserv-ts servers behind one load balancer share their sessions, address leases and bans through a Redis server (docs/CLUSTER.md). Without session-store everything stays in memory. Read once at start: a reload does not change them.',
    options: {
      'session-store': {
        doc: 'Where the cluster\'s shared state lives: `redis://host:port/db`, or `rediss://` for Redis over TLS. Cookies, session ids, accounting totals, IP leases and ban scores are kept there, so a client can come back through any server of the cluster with its cookie and keep its address.',
        default: '(in memory: one server alone)',
        example: 'redis://198.51.100.10:6379/0',
      },
      'session-store-password-file': {
        doc: 'A file holding the Redis password (first line; `user:password` for a Redis ACL user). Keep it readable by root only.',
        example: '/etc/ocserv-ts/redis.pass',
      },
      'session-store-ca-cert': {
        doc: 'With `rediss://`: the CA certificate the Redis server\'s certificate must chain to.',
        default: '(the system\'s CAs)',
        example: '/etc/ocserv-ts/redis-ca.pem',
      },
      'session-store-prefix': {
        doc: 'Prefix of every Redis key, so that several clusters can share one Redis server.',
        default: 'ocserv-ts:',
        example: 'vpn-eu:',
      },
      'cluster-node-name': {
        doc: 'This server\'s name in the cluster (occtl-ts show users --cluster prints it). Two running servers may not share a name.',
        default: '(the host name)',
        example: 'vpn1',
      },
    },
  },
];
