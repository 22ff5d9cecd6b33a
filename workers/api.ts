// `npm run api`: the HTTP API and Bull Board, without a worker.
import { boot } from "./boot.ts";
import { startApi } from "./start-api.ts";

const booted = await boot("api");
await startApi(booted, {});
