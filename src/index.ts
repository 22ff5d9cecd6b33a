// The library surface: what application code imports to enqueue email.
export { createEmailProducer, type EmailProducer, type EmailProducerOptions, type EnqueuedJob } from "./producer.ts";
export { ValidationError, type FieldError } from "./validation.ts";
export { RedisUnavailableError } from "./redis.ts";
export type {
  EmailRequest, EmailType, IncidentData, AlertData, StatusPageData, SendResult,
} from "./jobs/contracts.ts";
