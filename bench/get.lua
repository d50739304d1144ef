-- GET with the API key from $KEY.
wrk.headers["user-api-key"] = os.getenv("KEY")
