-- POST the body of a message to the URL's path (the insert reference).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"message": {"message": "Thank you, we look forward to your stay."}}'
