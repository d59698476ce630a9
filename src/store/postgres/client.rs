//! A small synchronous PostgreSQL client with hard time bounds.
//!
//! Why not the sync `postgres` crate: it runs tokio-postgres on a runtime
//! of its own and gives no way to bound the startup (TLS, authentication)
//! of a server that accepts TCP and then never answers, nor a statement
//! on such a server (`connect_timeout` covers only the TCP connect and
//! each statement waits for ever). A login must not hang on a frozen
//! database, so we own this wrapper: tokio-postgres on a tokio
//! *current-thread* runtime owned by the [`Database`] value, every
//! operation (the whole connect, each statement) under
//! `tokio::time::timeout`. The runtime has no worker threads; dropping
//! the `Database` closes the socket and drops the runtime, so nothing
//! outlives it. As a second line of defence the server is told the same
//! bound (`statement_timeout`, `lock_timeout`,
//! `idle_in_transaction_session_timeout`): a session left behind by a
//! frozen client frees its locks.
//!
//! PgBouncer in transaction pooling (Debian 12's 1.18 included) hands each
//! transaction to any of its server connections and refuses startup
//! parameters it does not know. So the bounds are not startup `options`:
//! each [`Database::transaction`] sets them with `SET LOCAL` (which ends
//! with the transaction, leaving nothing in a pooled session); and no
//! statement is prepared by name: statements with parameters are sent
//! with their types, as the unnamed statement, in one round trip
//! (`query_typed`), the others in the simple protocol, never with user
//! data in them.
//!
//! Several hosts are tried in order (shuffled with
//! `load_balance_hosts=random`) within the one budget: each attempt gets
//! `connect_timeout` if the string has one, else an equal share of the
//! time left, so a frozen first host leaves time for the next. The socket
//! is ours (libpq's keepalive and `tcp_user_timeout` options, `requirepeer`
//! on Unix sockets); tokio-postgres runs the protocol over it, its
//! incoming bytes watched for `require_auth` (see `tls.rs`). A host name
//! (not an address) is resolved by tokio's blocking
//! pool, a thread the runtime joins when dropped, bounded only by the
//! resolver's own timeouts: give `hostaddr` (or addresses) to avoid DNS at
//! login time.

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
pub use tokio_postgres::Row;
use tokio_postgres::SimpleQueryMessage;
pub use tokio_postgres::types::{FromSqlOwned, ToSql, Type};

use super::conninfo::{CertMode, ConnInfo, Endpoint, LoadBalance, TargetSession, TcpOptions};
use super::error::{self, DbError, TimeoutDuring};
use super::tls;

/// How long a closing connection may take to say goodbye to the server.
const CLOSE_GRACE: Duration = Duration::from_millis(200);

/// A connection string with its TLS made ready: every connection of one
/// authentication goes through one, so its certificate and key files are
/// read once, and the server's chain is verified once.
pub struct Connector {
    info: ConnInfo,
    tls: tls::ClientTls,
}

impl Connector {
    pub fn new(info: ConnInfo) -> Result<Connector, DbError> {
        let tls = tls::connector(&info)?;
        Ok(Connector { info, tls })
    }

    /// A new connection, as [`Database::connect`].
    pub fn connect(&self, timeout: Duration) -> Result<Database, DbError> {
        Database::connect_with(&self.info, &self.tls, timeout)
    }
}

/// One open connection. Every method returns within the timeout given to
/// [`Database::connect`] (or fails with [`DbError::Timeout`]); after a
/// timeout or a lost connection every later call fails at once.
pub struct Database {
    client: Option<tokio_postgres::Client>,
    connection: Option<AbortOnDrop>,
    runtime: Runtime,
    timeout: Duration,
    host: String,
    broken: bool,
    /// The iteration count of the role's SCRAM verifier, if the server
    /// asked for SCRAM.
    scram_iterations: Option<u32>,
}

/// The task driving the socket, aborted (its socket closed) when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Database {
    /// Connect to the first usable host of `info`, all within `timeout`:
    /// TCP, TLS, authentication and (with `target_session_attrs` other than
    /// `any`) the check of the host's role. Each host attempt is bounded by
    /// `connect_timeout` if the string has one, else by an equal share of
    /// the time left, so a black-holed first host leaves time for the next.
    pub fn connect(info: &ConnInfo, timeout: Duration) -> Result<Database, DbError> {
        let tls = tls::connector(info)?;
        Database::connect_with(info, &tls, timeout)
    }

    /// [`Database::connect`] with a connector already made (see [`Connector`]).
    fn connect_with(
        info: &ConnInfo,
        tls: &tls::ClientTls,
        timeout: Duration,
    ) -> Result<Database, DbError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|error| DbError::Unreachable {
                host: "(none tried)".to_string(),
                reason: format!("cannot set up the I/O runtime: {error}"),
            })?;
        let deadline = Instant::now() + timeout;
        let mut errors = Vec::new();
        let mut order: Vec<&Endpoint> = info.endpoints.iter().collect();
        if info.load_balance_hosts == LoadBalance::Random {
            shuffle(&mut order);
        }
        // prefer-standby: a standby if any host is one, else any host (libpq).
        let passes: &[TargetSession] = match info.target_session_attrs {
            TargetSession::PreferStandby => &[TargetSession::Standby, TargetSession::Any],
            _ => std::slice::from_ref(&info.target_session_attrs),
        };
        let attempts = order.len() * passes.len();
        let mut attempt_index = 0;
        for pass in passes {
            for endpoint in &order {
                let host = endpoint.to_string();
                let left = deadline.saturating_duration_since(Instant::now());
                let attempts_left = u32::try_from(attempts - attempt_index)
                    .unwrap_or(u32::MAX)
                    .max(1);
                attempt_index += 1;
                let share = match info.connect_timeout {
                    Some(limit) => limit.min(left),
                    None => left / attempts_left,
                };
                if share.is_zero() {
                    errors.push(DbError::Timeout {
                        during: TimeoutDuring::Connect,
                        host,
                        after: timeout,
                    });
                    continue;
                }
                let password = info.password_for(endpoint)?;
                let config = pg_config(
                    info,
                    endpoint,
                    password.as_ref().map(|password| password.as_str()),
                );
                // A new watch for every try: one that saw the server turn a
                // try away (53300) has stopped reading, and the next try's
                // authentication must be watched from its first byte.
                let last_watch = std::cell::RefCell::new(tls::AuthWatch::new(info.require_auth));
                let attempt = connect_patiently(&runtime, share, || {
                    let watch = tls::AuthWatch::new(info.require_auth);
                    *last_watch.borrow_mut() = watch.clone();
                    connect_host(
                        config.clone(),
                        tls.clone(),
                        info,
                        endpoint,
                        *pass,
                        &host,
                        watch,
                    )
                });
                let watch = last_watch.into_inner();
                let (refused, scram_iterations) = watch
                    .lock()
                    .map(|watch| (watch.refused.clone(), watch.scram_iterations))
                    .unwrap_or_default();
                match attempt {
                    Ok(Ok((client, connection))) => {
                        return Ok(Database {
                            client: Some(client),
                            connection: Some(connection),
                            runtime,
                            timeout,
                            host,
                            broken: false,
                            scram_iterations,
                        });
                    }
                    Ok(Err(_)) if refused.is_some() => errors.push(DbError::Authentication {
                        host,
                        message: refused.unwrap_or_default(),
                    }),
                    Ok(Err(error)) => errors.push(error),
                    Err(_elapsed) => errors.push(DbError::Timeout {
                        during: TimeoutDuring::Connect,
                        host,
                        after: share,
                    }),
                }
            }
        }
        match errors.len() {
            0 => Err(DbError::Unreachable {
                host: "(none)".to_string(),
                reason: "the connection string names no host".to_string(),
            }),
            1 => Err(errors.remove(0)),
            _ => Err(DbError::AllHostsFailed(errors)),
        }
    }

    /// The host this connection reached, as `name:port`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The iteration count of the role's SCRAM verifier, as the server
    /// gave it, if this connection authenticated with SCRAM.
    pub fn scram_iterations(&self) -> Option<u32> {
        self.scram_iterations
    }

    /// The bound on each statement.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Run one statement under the timeout; a timeout or a lost connection
    /// marks the connection unusable.
    fn run<'a, T, F>(
        &'a mut self,
        operation: impl FnOnce(&'a tokio_postgres::Client) -> F,
    ) -> Result<T, DbError>
    where
        F: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let client = match (&self.client, self.broken) {
            (Some(client), false) => client,
            _ => {
                return Err(DbError::Unreachable {
                    host: self.host.clone(),
                    reason: "the connection was lost or timed out earlier".to_string(),
                });
            }
        };
        let result = self
            .runtime
            .block_on(bounded(self.timeout, operation(client)));
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let error = error::from_statement(&error, &self.host, self.timeout);
                if matches!(error, DbError::Unreachable { .. }) {
                    self.broken = true;
                }
                Err(error)
            }
            Err(_elapsed) => {
                self.broken = true;
                Err(DbError::Timeout {
                    during: TimeoutDuring::Statement,
                    host: self.host.clone(),
                    after: self.timeout,
                })
            }
        }
    }

    /// A statement with its parameters' types, returning rows: the
    /// unnamed statement, in one round trip (nothing prepared by name).
    pub fn query_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, DbError> {
        self.run(|client| client.query_typed(sql, params))
    }

    /// [`Database::query_typed`] for a statement returning at most one row.
    pub fn query_typed_opt(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Option<Row>, DbError> {
        self.run(|client| client.query_typed_opt(sql, params))
    }

    /// [`Database::query_typed`] for a statement returning the number of
    /// rows it changed.
    pub fn execute_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<u64, DbError> {
        self.run(|client| client.execute_typed(sql, params))
    }

    /// Statements separated by `;`, no parameters, no rows returned (the
    /// simple protocol: never put user data in them).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.run(|client| client.batch_execute(sql))
    }

    /// Statements without parameters; the rows of all of them, as text
    /// (the simple protocol: never put user data in them).
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let messages = self.run(|client| client.simple_query(sql))?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|index| row.try_get(index).ok().flatten().map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Run `work` in one transaction: committed if it returns `Ok`, rolled
    /// back if it returns `Err` (return every statement's error: a failed
    /// statement aborts the transaction and COMMIT then rolls back). The
    /// server-side bounds are set for the transaction only (`SET LOCAL`),
    /// in the round trip of its `BEGIN`.
    pub fn transaction<T, E: From<DbError>>(
        &mut self,
        work: impl FnOnce(&mut Database) -> Result<T, E>,
    ) -> Result<T, E> {
        let begin = begin_with_bounds(self.timeout);
        self.batch_execute(&begin)?;
        match work(self) {
            Ok(value) => {
                self.batch_execute("COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                if !self.broken {
                    let _ = self.batch_execute("ROLLBACK");
                }
                Err(error)
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Without its client the connection task sends Terminate and closes.
        drop(self.client.take());
        if let Some(mut connection) = self.connection.take() {
            let grace = self.timeout.min(CLOSE_GRACE);
            let _ = self.runtime.block_on(bounded(grace, &mut connection.0));
        }
        // The runtime, dropped next, cancels whatever is left.
    }
}

/// `future` under a time limit. The timer is made inside the runtime
/// (`tokio::time::timeout` called outside one panics).
async fn bounded<F: std::future::Future>(
    limit: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    tokio::time::timeout(limit, future).await
}

/// One host attempt: the socket (with libpq's TCP options, or a Unix
/// socket with `requirepeer` checked), the startup (TLS, authentication
/// under the `require_auth` watch) and the role check for `target`.
async fn connect_host(
    config: tokio_postgres::Config,
    tls: tls::ClientTls,
    info: &ConnInfo,
    endpoint: &Endpoint,
    target: TargetSession,
    host: &str,
    watch: tls::SharedWatch,
) -> Result<(tokio_postgres::Client, AbortOnDrop), DbError> {
    use tokio_postgres::tls::MakeTlsConnect;
    let tls::ClientTls {
        make: mut tls,
        cert_sent,
    } = tls;
    let socket = open_socket(info, endpoint, host).await?;
    // The name the certificate must match: `host`, not `hostaddr`.
    let Ok(connector) =
        MakeTlsConnect::<tls::Watched<tls::Socket>>::make_tls_connect(&mut tls, &endpoint.host);
    let connector = tls::WatchedTls {
        inner: connector,
        watch: watch.clone(),
    };
    cert_sent.store(false, std::sync::atomic::Ordering::SeqCst);
    let (client, connection) = config
        .connect_raw(tls::Watched::raw(socket, watch), connector)
        .await
        .map_err(|error| error::from_connect(&error, host))?;
    if info.tls.certmode == CertMode::Require
        && !cert_sent.load(std::sync::atomic::Ordering::SeqCst)
    {
        return Err(DbError::Authentication {
            host: host.to_string(),
            message: "sslcertmode=require, but no client certificate was sent: the server did not ask for one (its ssl_ca_file is unset), the connection was not encrypted (sslmode), or the string has no sslcert".to_string(),
        });
    }
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    if target != TargetSession::Any {
        // One round trip for every value (libpq asks SHOW
        // transaction_read_only or pg_is_in_recovery(), as needed).
        let messages = client
            .simple_query(
                "SELECT pg_catalog.pg_is_in_recovery(), pg_catalog.current_setting('transaction_read_only')",
            )
            .await
            .map_err(|error| error::from_connect(&error, host))?;
        let (in_recovery, read_only) = messages
            .iter()
            .find_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some((
                    row.try_get(0).ok().flatten() == Some("t"),
                    row.try_get(1).ok().flatten() == Some("on"),
                )),
                _ => None,
            })
            .unwrap_or((true, true));
        let fits = match target {
            TargetSession::Any | TargetSession::PreferStandby => true,
            TargetSession::ReadWrite => !read_only,
            TargetSession::ReadOnly => read_only,
            TargetSession::Primary => !in_recovery,
            TargetSession::Standby => in_recovery,
        };
        if !fits {
            if target == TargetSession::ReadWrite {
                return Err(DbError::ReadOnly {
                    host: host.to_string(),
                });
            }
            return Err(DbError::NotTarget {
                host: host.to_string(),
                wanted: target.as_str(),
                found: match (in_recovery, read_only) {
                    (true, _) => "a standby",
                    (false, true) => "a primary whose sessions are read-only",
                    (false, false) => "a primary",
                },
            });
        }
    }
    Ok((client, connection))
}

/// How long to wait before trying again a host that refused the session
/// for want of connection slots: the first pause, doubled each time up to
/// the last (plus up to as much again, at random).
const BUSY_PAUSE_FIRST: Duration = Duration::from_millis(10);
const BUSY_PAUSE_LAST: Duration = Duration::from_millis(200);

type Connected = Result<(tokio_postgres::Client, AbortOnDrop), DbError>;

/// Connect to one host within `share`, trying again after a pause while
/// the server refuses the session because its connection slots are taken
/// (SQLSTATE 53300): a login holds a connection for milliseconds, so a
/// burst of logins waits its turn instead of failing.
fn connect_patiently<F>(
    runtime: &Runtime,
    share: Duration,
    mut attempt: impl FnMut() -> F,
) -> Result<Connected, tokio::time::error::Elapsed>
where
    F: std::future::Future<Output = Connected>,
{
    let deadline = Instant::now() + share;
    let mut pause = BUSY_PAUSE_FIRST;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match runtime.block_on(bounded(left, attempt()))? {
            Err(error) if error.sqlstate() == Some("53300") => {
                let wait = pause + pause * jitter_per_mille() / 1000;
                if Instant::now() + wait >= deadline {
                    return Ok(Err(error));
                }
                std::thread::sleep(wait);
                pause = (pause * 2).min(BUSY_PAUSE_LAST);
            }
            other => return Ok(other),
        }
    }
}

/// 0 to 999, different from one call (and one process) to the next:
/// enough to keep a crowd of logins from coming back in step.
fn jitter_per_mille() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos() % 1000)
}

/// `BEGIN` and the server-side bounds for this transaction only: a
/// statement, a lock wait, and the client idle inside the transaction,
/// each at most `timeout`. Only numbers go into this text.
fn begin_with_bounds(timeout: Duration) -> String {
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128);
    format!(
        "BEGIN; SET LOCAL statement_timeout = {millis}; SET LOCAL lock_timeout = {millis}; \
         SET LOCAL idle_in_transaction_session_timeout = {millis}"
    )
}

/// The socket to `endpoint`: a Unix socket for a directory (`requirepeer`
/// checked), else TCP to `hostaddr`, to `host` as an address, or to each
/// address `host` resolves to in turn (shuffled with
/// `load_balance_hosts=random`), with keepalives and `tcp_user_timeout`.
async fn open_socket(
    info: &ConnInfo,
    endpoint: &Endpoint,
    host: &str,
) -> Result<tls::Socket, DbError> {
    let unreachable = |reason: String| DbError::Unreachable {
        host: host.to_string(),
        reason,
    };
    if endpoint.host.starts_with('/') && endpoint.hostaddr.is_none() {
        let path = format!("{}/.s.PGSQL.{}", endpoint.host, endpoint.port);
        let stream = tokio::net::UnixStream::connect(&path)
            .await
            .map_err(|error| unreachable(format!("cannot connect to {path}: {error}")))?;
        if let Some(wanted) = &info.requirepeer {
            let uid = stream
                .peer_cred()
                .map_err(|error| unreachable(format!("cannot read the server's user: {error}")))?
                .uid();
            let name = crate::system::account::lookup_uid(uid)
                .map(|account| account.name)
                .unwrap_or_else(|_| format!("uid {uid}"));
            if &name != wanted {
                return Err(DbError::Authentication {
                    host: host.to_string(),
                    message: format!("the server runs as {name}, and requirepeer says {wanted}"),
                });
            }
        }
        return Ok(tls::Socket::Unix(stream));
    }
    let mut addresses: Vec<std::net::SocketAddr> =
        match endpoint.hostaddr.or_else(|| endpoint.host.parse().ok()) {
            Some(address) => vec![std::net::SocketAddr::new(address, endpoint.port)],
            None => tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
                .await
                .map_err(|error| unreachable(format!("cannot resolve the name: {error}")))?
                .collect(),
        };
    if info.load_balance_hosts == LoadBalance::Random {
        shuffle(&mut addresses);
    }
    let mut last = unreachable("the name resolves to no address".to_string());
    for address in addresses {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => {
                set_tcp_options(&stream, &info.tcp)
                    .map_err(|error| unreachable(format!("cannot set TCP options: {error}")))?;
                return Ok(tls::Socket::Tcp(stream));
            }
            Err(error) => last = unreachable(format!("{address}: {error}")),
        }
    }
    Err(last)
}

/// libpq's socket options: no Nagle delay, keepalives unless
/// `keepalives=0` (with the given idle time, interval and count, else the
/// system's), `tcp_user_timeout` if given.
fn set_tcp_options(stream: &tokio::net::TcpStream, tcp: &TcpOptions) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(stream);
    if tcp.keepalives {
        let mut keepalive = socket2::TcpKeepalive::new();
        if let Some(idle) = tcp.keepalives_idle {
            keepalive = keepalive.with_time(idle);
        }
        if let Some(interval) = tcp.keepalives_interval {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(count) = tcp.keepalives_count {
            keepalive = keepalive.with_retries(count);
        }
        socket.set_tcp_keepalive(&keepalive)?;
    }
    if let Some(limit) = tcp.tcp_user_timeout {
        socket.set_tcp_user_timeout(Some(limit))?;
    }
    Ok(())
}

/// Shuffle in place (for `load_balance_hosts=random`: spreading load needs
/// no cryptographic randomness; std's per-process random hash keys do).
fn shuffle<T>(items: &mut [T]) {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    for index in (1..items.len()).rev() {
        let mut hasher = state.build_hasher();
        hasher.write_usize(index);
        let bound = u64::try_from(index + 1).unwrap_or(u64::MAX);
        let pick = usize::try_from(hasher.finish() % bound).unwrap_or(0);
        items.swap(index, pick);
    }
}

fn pg_config(
    info: &ConnInfo,
    endpoint: &Endpoint,
    password: Option<&str>,
) -> tokio_postgres::Config {
    use super::conninfo::{ChannelBinding as Binding, SslMode as Mode};
    use tokio_postgres::config::{ChannelBinding, SslMode, SslNegotiation};
    let mut config = tokio_postgres::Config::new();
    config.host(&endpoint.host);
    if let Some(address) = endpoint.hostaddr {
        config.hostaddr(address);
    }
    config.port(endpoint.port);
    config.user(&info.user);
    if let Some(password) = password {
        config.password(password);
    }
    if let Some(dbname) = &info.dbname {
        config.dbname(dbname);
    }
    config.application_name(info.application_name.as_deref().unwrap_or("pam-totp"));
    // Only the string's own `options` (PgBouncer refuses the parameter):
    // the bounds are set in each transaction instead.
    if let Some(options) = &info.options {
        config.options(options);
    }
    // As libpq: no TLS on a Unix socket, whatever sslmode says.
    let unix_socket = endpoint.host.starts_with('/') && endpoint.hostaddr.is_none();
    config.ssl_mode(match info.sslmode {
        _ if unix_socket => SslMode::Disable,
        Mode::Disable => SslMode::Disable,
        Mode::Allow | Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    if info.tls.direct {
        config.ssl_negotiation(SslNegotiation::Direct);
    }
    config.channel_binding(match info.channel_binding {
        Binding::Disable => ChannelBinding::Disable,
        Binding::Prefer => ChannelBinding::Prefer,
        Binding::Require => ChannelBinding::Require,
    });
    config
}
