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
//! Several hosts are tried in order within the one budget: each gets an
//! equal share of the time left, so a frozen first host leaves time for
//! the next. A host name (not an address) is resolved by tokio's blocking
//! pool, a thread the runtime joins when dropped, bounded only by the
//! resolver's own timeouts: give `hostaddr` (or addresses) to avoid DNS at
//! login time.

use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
pub use tokio_postgres::Row;
use tokio_postgres::SimpleQueryMessage;
pub use tokio_postgres::types::{FromSqlOwned, ToSql, Type};

use super::conninfo::{ConnInfo, Endpoint, TargetSession};
use super::error::{self, DbError, TimeoutDuring};
use super::tls;

/// How long a closing connection may take to say goodbye to the server.
const CLOSE_GRACE: Duration = Duration::from_millis(200);

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
    /// TCP, TLS, authentication and (with `target_session_attrs=read-write`)
    /// the check that the host accepts writes.
    pub fn connect(info: &ConnInfo, timeout: Duration) -> Result<Database, DbError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|error| DbError::Unreachable {
                host: "(none tried)".to_string(),
                reason: format!("cannot set up the I/O runtime: {error}"),
            })?;
        let tls = tls::connector(info)?;
        let options = server_options(info, timeout);
        let deadline = Instant::now() + timeout;
        let mut errors = Vec::new();
        let count = info.endpoints.len();
        for (index, endpoint) in info.endpoints.iter().enumerate() {
            let host = endpoint.to_string();
            let left = deadline.saturating_duration_since(Instant::now());
            let hosts_left = u32::try_from(count - index).unwrap_or(u32::MAX).max(1);
            let share = left / hosts_left;
            let config = pg_config(info, endpoint, &options);
            let attempt = runtime.block_on(bounded(
                share,
                connect_host(config, tls.clone(), info.target_session_attrs, &host),
            ));
            match attempt {
                Ok(Ok((client, connection))) => {
                    return Ok(Database {
                        client: Some(client),
                        connection: Some(connection),
                        runtime,
                        timeout,
                        host,
                        broken: false,
                    });
                }
                Ok(Err(error)) => errors.push(error),
                Err(_elapsed) => errors.push(DbError::Timeout {
                    during: TimeoutDuring::Connect,
                    host,
                    after: share,
                }),
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

    /// A statement returning rows (prepared, then executed: two round trips).
    pub fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        self.run(|client| client.query(sql, params))
    }

    /// A statement returning at most one row.
    pub fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, DbError> {
        self.run(|client| client.query_opt(sql, params))
    }

    /// A statement with its parameter types given: one round trip, no
    /// separate prepare. Prefer this on the login path.
    pub fn query_typed(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, DbError> {
        self.run(|client| client.query_typed(sql, params))
    }

    /// A statement returning the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, DbError> {
        self.run(|client| client.execute(sql, params))
    }

    /// Statements separated by `;`, no parameters, no rows returned.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        self.run(|client| client.batch_execute(sql))
    }

    /// Statements without parameters; the rows of all of them, as text.
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
    /// statement aborts the transaction and COMMIT then rolls back).
    pub fn transaction<T>(
        &mut self,
        work: impl FnOnce(&mut Database) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.batch_execute("BEGIN")?;
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

async fn connect_host(
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    target: TargetSession,
    host: &str,
) -> Result<(tokio_postgres::Client, AbortOnDrop), DbError> {
    let (client, connection) = config
        .connect(tls)
        .await
        .map_err(|error| error::from_connect(&error, host))?;
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    if target == TargetSession::ReadWrite {
        let messages = client
            .simple_query("SHOW transaction_read_only")
            .await
            .map_err(|error| error::from_connect(&error, host))?;
        let read_only = messages.iter().any(|message| {
            matches!(message, SimpleQueryMessage::Row(row) if row.try_get(0).ok().flatten() == Some("on"))
        });
        if read_only {
            return Err(DbError::ReadOnly {
                host: host.to_string(),
            });
        }
    }
    Ok((client, connection))
}

/// The server-side bounds, after any `options` from the string (the later
/// setting wins, so ours hold).
fn server_options(info: &ConnInfo, timeout: Duration) -> String {
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128);
    let ours = format!(
        "-c statement_timeout={millis} -c lock_timeout={millis} -c idle_in_transaction_session_timeout={millis}"
    );
    match &info.options {
        Some(theirs) => format!("{theirs} {ours}"),
        None => ours,
    }
}

fn pg_config(info: &ConnInfo, endpoint: &Endpoint, options: &str) -> tokio_postgres::Config {
    use super::conninfo::SslMode as Mode;
    use tokio_postgres::config::SslMode;
    let mut config = tokio_postgres::Config::new();
    config.host(&endpoint.host);
    if let Some(address) = endpoint.hostaddr {
        config.hostaddr(address);
    }
    config.port(endpoint.port);
    config.user(&info.user);
    if let Some(password) = info.password() {
        config.password(password);
    }
    if let Some(dbname) = &info.dbname {
        config.dbname(dbname);
    }
    config.application_name(info.application_name.as_deref().unwrap_or("pam-totp"));
    config.options(options);
    config.ssl_mode(match info.sslmode {
        Mode::Disable => SslMode::Disable,
        Mode::Allow | Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    });
    config
}
