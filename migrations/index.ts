import { InitialSchema1763780000000 } from './1763780000000-InitialSchema.js';
import { IngestFunctions1763780100000 } from './1763780100000-IngestFunctions.js';
import { EventHorizon1763780200000 } from './1763780200000-EventHorizon.js';
import { LeanerDelivery1763780300000 } from './1763780300000-LeanerDelivery.js';
import { EventDeliveryLink1763780400000 } from './1763780400000-EventDeliveryLink.js';
import { BatchIngest1763780500000 } from './1763780500000-BatchIngest.js';
import { RejectionBudget1763780600000 } from './1763780600000-RejectionBudget.js';
import { DeliverySigningKey1763780700000 } from './1763780700000-DeliverySigningKey.js';
import { ProveEventKey1763780800000 } from './1763780800000-ProveEventKey.js';

/** Every migration, oldest first. Listed explicitly so no build tool or glob can drop one. */
export const migrations = [
  InitialSchema1763780000000,
  IngestFunctions1763780100000,
  EventHorizon1763780200000,
  LeanerDelivery1763780300000,
  EventDeliveryLink1763780400000,
  BatchIngest1763780500000,
  RejectionBudget1763780600000,
  DeliverySigningKey1763780700000,
  ProveEventKey1763780800000,
];
