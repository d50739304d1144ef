-- POST a message to a thread picked at random from $THREADS (comma separated).
local threads = {}
for id in string.gmatch(os.getenv("THREADS"), "[^,]+") do
  threads[#threads + 1] = id
end
wrk.method = "POST"
wrk.headers["user-api-key"] = os.getenv("KEY")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message": {"message": "Thank you, we look forward to your stay."}}'
request = function()
  local id = threads[math.random(#threads)]
  return wrk.format(nil, "/api/v1/message_threads/" .. id .. "/messages")
end
