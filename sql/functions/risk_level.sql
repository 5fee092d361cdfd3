-- The risk level at a place on the ladder (risk_rank's inverse); NULL off the ladder. Inlined (see
-- risk_ladder).
CREATE OR REPLACE FUNCTION risk_level(rank int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (risk_ladder())[rank]
$$;
