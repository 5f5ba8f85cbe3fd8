\set x random(1, 1000000)
INSERT INTO b3_nolin (x) VALUES (:x);
