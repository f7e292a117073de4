DROP TABLE pop_events;
