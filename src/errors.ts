/**
 * Herald's error vocabulary. Domain code throws these; the api maps them to
 * application/problem+json in one onError handler.
 */
export interface FieldError {
  path: string;
  message: string;
}

export class HeraldError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail?: string,
    readonly errors?: FieldError[],
  ) {
    super(detail ?? title);
  }
  get type(): string {
    return `https://herald.dev/problems/${this.title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  }
}

export class ValidationError extends HeraldError {
  constructor(errors: FieldError[], detail = 'The request has invalid fields.') {
    super(400, 'Bad Request', detail, errors);
  }
}
export class UnauthorizedError extends HeraldError {
  constructor(detail = 'A valid bearer token is required.') {
    super(401, 'Unauthorized', detail);
  }
}
export class ForbiddenError extends HeraldError {
  constructor(detail: string) {
    super(403, 'Forbidden', detail);
  }
}
export class NotFoundError extends HeraldError {
  constructor(detail = 'Not found.') {
    super(404, 'Not Found', detail);
  }
}
export class ConflictError extends HeraldError {
  constructor(detail: string) {
    super(409, 'Conflict', detail);
  }
}
export class UnprocessableError extends HeraldError {
  constructor(detail: string, errors?: FieldError[]) {
    super(422, 'Unprocessable Content', detail, errors);
  }
}
export class UnavailableError extends HeraldError {
  constructor(detail: string) {
    super(503, 'Service Unavailable', detail);
  }
}
