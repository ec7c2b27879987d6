//! The API test suite: one binary, one fresh database per test.
//! Runs on SQLite; set TEST_DATABASE_URL=postgres://… to run it on PostgreSQL.

mod adopt;
mod adopting;
mod auth;
mod backup;
mod books;
mod concurrency;
mod contract;
mod diff;
mod errors;
mod etags;
mod helpers;
mod limits;
mod lint;
mod metrics;
mod migrate;
mod migrations;
mod openapi;
mod paging;
mod pooler;
mod reviews;
mod standbys;
mod startup;
mod tutorial;
