-- agg_page_transitions keeps its key unique by construction: a day's rows are deleted and
-- inserted again from one GROUP BY over the key, under the ETL's advisory lock, and the
-- tests check that no key repeats. Its seven-column primary key index cost most of the time
-- a day's rows took to insert, on the critical path of the derive phase.
-- The dashboards, the rollup and the day's DELETE read through
-- agg_page_transitions_cover_idx (0016), which stays.
ALTER TABLE agg_page_transitions DROP CONSTRAINT agg_page_transitions_pkey;
