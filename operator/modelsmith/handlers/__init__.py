"""kopf handlers: thin, each gathering inputs, calling pure decisions and writing status.
`modelsmith.operator` imports every module here, which registers them with kopf."""
