-- 004_articles: what scrape.site stores. Its writes commit with the task's
-- result (the task engine's savepoint): a killed scrape stores nothing, a
-- redelivered one upserts each article once.

-- Trigram indexes make "text in title or summary" (ILIKE '%...%') an index
-- scan. pg_trgm ships with PostgreSQL and is a trusted extension: the
-- database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per article, keyed by its canonical URL: re-scraping updates the
-- row when the extracted content changed and leaves it alone otherwise.
CREATE TABLE articles (
    id            bigserial PRIMARY KEY,
    url           text NOT NULL UNIQUE,  -- canonical URL (link rel=canonical, else after redirects)
    site          text NOT NULL,         -- host[:port] of url, lower case: the filter by site
    source_url    text,                  -- the URL fetched for it (a feed entry: its link)
    title         text,
    author        text,
    published_at  timestamptz,
    summary       text,
    body          text,                  -- the main text, paragraphs separated by blank lines
    content_hash  text NOT NULL,         -- md5 of the extracted fields: unchanged or updated
    etag          text,                  -- validators of source_url, for conditional requests
    last_modified text,
    task_id       uuid,                  -- the scrape that stored this content (no FK: the
                                         -- article outlives the task's retention)
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    -- "newest first": by publication, else by when it was first stored
    sort_at       timestamptz GENERATED ALWAYS AS (COALESCE(published_at, created_at)) STORED
);
CREATE INDEX articles_newest_idx ON articles (sort_at DESC, id DESC);
CREATE INDEX articles_site_idx ON articles (site, sort_at DESC, id DESC);
CREATE INDEX articles_task_idx ON articles (task_id);
CREATE INDEX articles_source_idx ON articles (source_url);
CREATE INDEX articles_title_trgm_idx ON articles USING gin (title gin_trgm_ops);
CREATE INDEX articles_summary_trgm_idx ON articles USING gin (summary gin_trgm_ops);
