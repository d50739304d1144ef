//! The database of a command: DATABASE_URL, or the embedded cluster of DATA_DIR (started for
//! the command, stopped after it).

use std::future::Future;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use super::DbArgs;
use crate::db;
use crate::embedded_pg::{self, ClusterInUse, EmbeddedPg};

/// Connections a command needs.
const MAX_CONNECTIONS: u32 = 2;

/// A migrated database, and the embedded cluster behind it when there is one.
pub struct Database {
    pool: PgPool,
    embedded: Option<EmbeddedPg>,
}

impl Database {
    /// Connects (starting the embedded cluster when DATABASE_URL is unset) and migrates.
    pub async fn open(args: &DbArgs, command: &str) -> anyhow::Result<Self> {
        let (options, embedded): (PgConnectOptions, _) = match &args.database_url {
            Some(url) => (
                url.parse()
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?,
                None,
            ),
            None => {
                let dir = args.data_dir.join("postgres");
                let pg = EmbeddedPg::start(&dir, &embedded_pg::Options::default())
                    .await
                    .map_err(|err| match err.downcast::<ClusterInUse>() {
                        Ok(in_use) => anyhow::anyhow!(
                            "`ota-inbox {command}` needs the embedded PostgreSQL in {}, which a \
                             running ota-inbox server holds: stop that server first, or do this \
                             through its admin API (POST /admin/users, POST /admin/api_keys), or \
                             set DATABASE_URL",
                            in_use.dir.display()
                        ),
                        Err(err) => err.context("starting the embedded PostgreSQL"),
                    })?;
                (pg.connect_options(embedded_pg::DATABASE), Some(pg))
            }
        };
        let database = async {
            db::migrate(&options)
                .await
                .context("running the migrations")?;
            let pool = db::connect(options, MAX_CONNECTIONS)
                .await
                .context("connecting to PostgreSQL")?;
            anyhow::Ok(pool)
        }
        .await;
        match database {
            Ok(pool) => Ok(Self { pool, embedded }),
            Err(err) => {
                if let Some(pg) = embedded {
                    stop(pg).await;
                }
                Err(err)
            }
        }
    }

    /// Runs `work` with the pool, then closes it (and stops the embedded cluster) whatever
    /// `work` answered.
    pub async fn run<F, Fut>(self, work: F) -> anyhow::Result<()>
    where
        F: FnOnce(PgPool) -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        let result = work(self.pool.clone()).await;
        self.pool.close().await;
        if let Some(pg) = self.embedded {
            stop(pg).await;
        }
        result
    }
}

async fn stop(pg: EmbeddedPg) {
    if let Err(err) = pg.stop().await {
        eprintln!("warning: stopping the embedded PostgreSQL: {err:#}");
    }
}
