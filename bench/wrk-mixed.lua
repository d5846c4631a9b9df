-- wrk script: a mix of worker ids, 50-row pages. Per 10 requests: 4 to the challenge seed's deterministic
-- workers 101-103 (full pages), 4 to seeded workers 1-100 (mostly empty pages: they hold too few documents),
-- 2 to unknown ids (404 problem+json). Deterministic: a counter per wrk thread, no randomness.
-- The Authorization header comes from wrk's -H (bench/httpbench.py passes a staff token: any worker).
local n = 0
request = function()
  n = n + 1
  local k = n % 10
  local id
  if k < 4 then
    id = 101 + n % 3
  elseif k < 8 then
    id = 1 + n % 100
  else
    id = 900000 + n % 1000
  end
  return wrk.format("GET", "/workers/" .. id .. "/shifts?limit=50")  -- with wrk.headers (-H)
end
