-- The risk levels, lowest first: the ladder of src/domain/identity-policy.ts, spelled once in SQL.
-- risk_rank() and risk_level() read it. IMMUTABLE LANGUAGE sql with a single SELECT, as they are, so
-- the planner inlines all three and folds the ladder to a constant: no call is left at run time.
CREATE OR REPLACE FUNCTION risk_ladder() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH']
$$;
