//! Connection pools: bb8 over diesel-async, with Django's `CONN_MAX_AGE` semantics.
//!
//! bb8 only enforces `max_lifetime` when a connection is returned or during its periodic sweep, so a
//! connection that sat idle past its age could still be handed out. [`AgedManager`] wraps diesel-async's
//! manager and checks the age at both ends: an expired connection is discarded at check-out (and a
//! fresh one opened) and at check-in. A maximum age of zero means a fresh connection for every
//! check-out, as `CONN_MAX_AGE = 0` does in Django.
//!
//! A check-out does not cost a round trip: a connection the driver knows to be closed (the server
//! ended it, e.g. on restart, or a query found the socket gone) or left inside a transaction is
//! discarded at once, and only a connection that sat idle for at least `DB_CONN_CHECK_IDLE` is
//! verified with `SELECT 1` first (what a silently dropped network path needs). Under load,
//! connections go back out within milliseconds and are never pinged; with a zero idle time every
//! check-out is verified.

use bb8::ManageConnection;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, PoolError, PoolableConnection,
};
use diesel_async::AsyncConnection;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// How long a pooled connection may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxAge {
    /// Never recycle because of age (Django's `CONN_MAX_AGE = None`).
    Unlimited,
    /// Recycle once the connection is this old; zero means one check-out per connection.
    Limit(Duration),
}

/// A pooled connection together with the moment it was opened and the moment it last came back
/// to the pool.
pub struct Aged<C> {
    conn: C,
    opened_at: Instant,
    returned_at: Instant,
}

impl<C> Deref for Aged<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.conn
    }
}

impl<C> DerefMut for Aged<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.conn
    }
}

/// A bb8 connection manager that recycles connections by age (see the module docs).
pub struct AgedManager<C: AsyncConnection + 'static> {
    inner: AsyncDieselConnectionManager<C>,
    max_age: MaxAge,
    check_idle: Duration,
}

impl<C: AsyncConnection + 'static> AgedManager<C> {
    /// Wraps a diesel-async manager; connections idle for `check_idle` or longer are verified by
    /// the inner manager (its recycling method) at check-out.
    pub fn new(
        inner: AsyncDieselConnectionManager<C>,
        max_age: MaxAge,
        check_idle: Duration,
    ) -> Self {
        Self {
            inner,
            max_age,
            check_idle,
        }
    }

    fn expired(&self, conn: &Aged<C>) -> bool {
        match self.max_age {
            MaxAge::Unlimited => false,
            MaxAge::Limit(limit) => limit.is_zero() || conn.opened_at.elapsed() >= limit,
        }
    }
}

impl<C> ManageConnection for AgedManager<C>
where
    C: PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: ManageConnection<Connection = C, Error = PoolError>,
{
    type Connection = Aged<C>;
    type Error = PoolError;

    async fn connect(&self) -> Result<Aged<C>, PoolError> {
        let conn = self.inner.connect().await?;
        let now = Instant::now();
        Ok(Aged {
            conn,
            opened_at: now,
            returned_at: now,
        })
    }

    async fn is_valid(&self, conn: &mut Aged<C>) -> Result<(), PoolError> {
        // A zero age is enforced at check-in; checking it here too would refuse every connection.
        let outlived = match self.max_age {
            MaxAge::Limit(limit) if !limit.is_zero() => conn.opened_at.elapsed() >= limit,
            _ => false,
        };
        if outlived {
            return Err(PoolError::ConnectionError(
                diesel::ConnectionError::BadConnection("connection reached DB_CONN_MAX_AGE".into()),
            ));
        }
        if self.inner.has_broken(&mut conn.conn) {
            return Err(PoolError::ConnectionError(
                diesel::ConnectionError::BadConnection("the connection is closed".into()),
            ));
        }
        if conn.returned_at.elapsed() >= self.check_idle {
            self.inner.is_valid(&mut conn.conn).await?;
        }
        Ok(())
    }

    /// Called by bb8 when a connection comes back, which is also when its idle time starts.
    fn has_broken(&self, conn: &mut Aged<C>) -> bool {
        conn.returned_at = Instant::now();
        self.expired(conn) || self.inner.has_broken(&mut conn.conn)
    }
}
