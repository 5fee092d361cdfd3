-- A risk level's place on the ladder, 1 (UNKNOWN) to 4 (HIGH); NULL for NULL. Inlined (see risk_ladder).
CREATE OR REPLACE FUNCTION risk_rank(level text) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_position(risk_ladder(), level)
$$;
