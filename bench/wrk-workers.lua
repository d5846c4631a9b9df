-- wrk script: GET /workers/{id}/shifts?limit=50 for worker ids 1..103 (the challenge seed's workers, including
-- the three deterministic ones), round robin per connection thread.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/workers/" .. (n % 103 + 1) .. "/shifts?limit=50")
end
