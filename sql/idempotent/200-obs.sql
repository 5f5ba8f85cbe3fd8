-- Observability figures (metrics, dashboard). Idempotent: re-applied by every install and upgrade.

-- Lineage coverage per (trigger, route) with a lineage column: the share of the relation's rows
-- whose lineage column holds a stamp (rows infer wrote, or found nothing to write for, or skipped;
-- rows written before CREATE, while the trigger was disabled, or by a replica, have none).
--
-- Cheap whatever the relation's size: a relation (with its partitions) of at most `max_pages`
-- pages is counted exactly; a larger one is estimated from a TABLESAMPLE SYSTEM sample of about
-- `max_pages` pages (block sampling: whole pages, so rows written together are sampled together;
-- `sampled` says so). `rows` is exact for a counted relation and scaled from the sample otherwise.
-- SECURITY INVOKER: the caller needs SELECT on the relations (a route it cannot read is skipped).
CREATE OR REPLACE FUNCTION motion.lineage_coverage(max_pages integer DEFAULT 1000)
RETURNS TABLE (trigger_name text, route integer, relation text, lineage_column text,
               rows_total bigint, rows_stamped bigint, coverage float8, sampled boolean)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
    pages float8;
    percent float8;
    counted record;
BEGIN
    FOR r IN
        SELECT t.trigger_name AS t_name, t.ordinal AS t_route, t.relation AS t_rel,
               t.lineage_column AS t_col
        FROM motion.routes t
        WHERE t.lineage_column IS NOT NULL
        ORDER BY t.trigger_name, t.ordinal
    LOOP
        IF NOT has_table_privilege(r.t_rel, 'SELECT') THEN
            CONTINUE;
        END IF;
        -- the relation's pages, or its partitions' (pg_partition_tree lists no plain table)
        SELECT coalesce(sum(greatest(c.relpages, 0)), 0) INTO pages
        FROM pg_class c
        WHERE c.oid = r.t_rel
           OR c.oid IN (SELECT p.relid FROM pg_partition_tree(r.t_rel) p WHERE p.isleaf);
        IF pages IS NULL OR pages <= greatest(max_pages, 1) THEN
            percent := NULL;
            EXECUTE format('SELECT count(*) AS n, count(%I) AS s FROM %s', r.t_col, r.t_rel)
                INTO counted;
        ELSE
            percent := least(100.0, 100.0 * greatest(max_pages, 1) / pages);
            EXECUTE format('SELECT count(*) AS n, count(%I) AS s FROM %s TABLESAMPLE SYSTEM (%s)',
                           r.t_col, r.t_rel, percent)
                INTO counted;
        END IF;
        trigger_name := r.t_name;
        route := r.t_route;
        relation := r.t_rel::text;
        lineage_column := r.t_col;
        rows_total := CASE WHEN percent IS NULL THEN counted.n
                           ELSE round(counted.n * 100.0 / percent)::bigint END;
        rows_stamped := CASE WHEN percent IS NULL THEN counted.s
                             ELSE round(counted.s * 100.0 / percent)::bigint END;
        coverage := CASE WHEN counted.n = 0 THEN NULL ELSE counted.s::float8 / counted.n END;
        sampled := percent IS NOT NULL;
        RETURN NEXT;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION motion.lineage_coverage(integer) FROM PUBLIC;
