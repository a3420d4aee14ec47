"""What both deployments share: handle a trigger (access, intents, create or follow up,
replies), track a session (one tick), find a thread's session, the dependencies bundle."""
